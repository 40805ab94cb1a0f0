"""What the API and the pages work with: the ledger, the alerting settings, the link signer and hooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from alerting.ack_links import AckLinks
from alerting.ledger import Alert, Ledger, Notification
from alerting.settings import AlertingSettings

#: A transition a person makes through the API or an ack link.
PersonTransition = Literal["acknowledged", "resolved"]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def no_notifications(alert: Alert, transition: PersonTransition, by: str) -> Sequence[Notification]:
    """The default plan: a person's transition tells nobody (the alerting worker supplies the real one)."""
    return ()


@dataclass
class ApiContext:
    """Everything a request handler needs; built once per server by ``telewatch.wiring``."""

    ledger: Ledger
    settings: AlertingSettings
    links: AckLinks
    clock: Callable[[], datetime] = utc_now
    #: Notifications queued with a person's ack or resolve (the owner and IM group are told who did it).
    plan: Callable[[Alert, PersonTransition, str], Sequence[Notification]] = no_notifications
    #: Gauges from the running service for ``/metrics`` beyond what the ledger knows (e.g. consumer lag).
    health: Callable[[], Mapping[str, float]] = field(default=lambda: {})
    #: Signs and checks the ``sig`` of SMS delivery-receipt callbacks (the ack-link secret; empty: receipts refused).
    receipt_secret: bytes = field(default=b"", repr=False)
