"""The ledger's records as plain, frozen values (all times timezone-aware UTC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Status = Literal["firing", "acknowledged", "resolved"]
Via = Literal["sms_link", "im", "api", "auto"]
Outcome = Literal["sent", "retry", "permanent"]
Scope = Literal["read", "write", "admin"]
SilenceState = Literal["active", "pending", "expired"]

#: Who the ledger names as the actor of automatic transitions.
SYSTEM = "telewatch"


@dataclass(frozen=True)
class Alert:
    """One alert episode of a fingerprint."""

    id: int
    fingerprint: str
    labels: dict[str, Any]
    status: Status
    value: float
    peak: float
    expected: float | None
    started_at: datetime
    last_seen: datetime
    updated_at: datetime
    resolved_at: datetime | None
    ack_deadline: datetime | None
    escalation_step: int
    next_escalation_at: datetime | None
    normal_windows: int
    escalation_repeats: int = 0
    #: What the latest anomaly said beyond the labels: band, score, detector, description.
    annotations: dict[str, Any] | None = None

    @property
    def severity(self) -> str:
        """The severity its messages carry: the latest anomaly's, else the one it fired with (default warning)."""
        return str((self.annotations or {}).get("severity", self.labels.get("severity", "warning")))

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the latest anomaly (or the resolution)."""
        end = self.resolved_at or self.last_seen
        return (end - self.started_at).total_seconds()


@dataclass(frozen=True)
class HistoryEntry:
    """A transition (``from_status`` → ``to_status``) or, with both None, a comment."""

    alert_id: int
    seq: int
    from_status: Status | None
    to_status: Status | None
    at: datetime
    by: str
    via: Via
    comment: str | None


@dataclass(frozen=True)
class Notification:
    """A message to queue with a transition: one recipient on one channel."""

    recipient: str
    channel: str
    payload: dict[str, Any] = field(default_factory=dict)
    #: Not to be sent before this time (a digest waits for budget); None: at once.
    not_before: datetime | None = None


@dataclass(frozen=True)
class Transition:
    """What a transition wrote: the alert after it, its history entry and its outbox keys."""

    alert: Alert
    entry: HistoryEntry
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Matcher:
    """A silence's condition on one label (a regex matches the whole value)."""

    label: str
    value: str
    is_regex: bool = False
    is_equal: bool = True


@dataclass(frozen=True)
class Silence:
    """Mutes the alerts whose labels match every matcher from ``starts_at`` until ``ends_at``."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime

    def state(self, now: datetime) -> SilenceState:
        """pending before ``starts_at``, active until ``ends_at``, then expired."""
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"


@dataclass(frozen=True)
class OutboxItem:
    """One notification to deliver: a (transition, recipient, channel) with its idempotency key."""

    key: str
    alert_id: int | None
    history_seq: int | None
    recipient: str
    channel: str
    payload: dict[str, Any]
    state: Literal["pending", "sending", "sent", "failed", "dead"]
    attempts: int
    next_attempt_at: datetime
    claimed_by: str | None
    vendor_id: str | None
    detail: str | None
    dead_reason: str | None


@dataclass(frozen=True)
class Attempt:
    """One try at sending an outbox row."""

    key: str
    attempt: int
    at: datetime
    worker_id: str | None
    outcome: Outcome
    detail: str
    vendor_id: str | None


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt from the SMS vendor."""

    vendor_id: str
    key: str | None
    status: str
    detail: str
    received_at: datetime


@dataclass(frozen=True)
class ApiToken:
    """An API token's record (never the token itself)."""

    name: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    revoked_at: datetime | None
