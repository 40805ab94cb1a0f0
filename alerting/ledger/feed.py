"""The ledger's changes in order, for writing them elsewhere (InfluxDB): transitions, delivery attempts and
escalation steps by id; and the open alerts with when each first fired, for snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from alerting.ledger.base import LedgerBase
from alerting.ledger.models import Alert
from alerting.ledger.schema import alerts, escalation_steps, history, outbox
from alerting.ledger.schema import attempts as attempts_table


@dataclass(frozen=True)
class TransitionRow:
    """A history entry with its row id and its alert's labels."""

    id: int
    alert_id: int
    labels: dict[str, Any]
    from_status: str | None
    to_status: str | None
    at: datetime
    by: str
    via: str
    #: When the alert first fired (its first history entry).
    fired_at: datetime


@dataclass(frozen=True)
class AttemptRow:
    """A delivery attempt with its row id, channel, recipient, vendor and when its row was queued."""

    id: int
    channel: str
    recipient: str
    attempt: int
    outcome: str
    at: datetime
    queued_at: datetime
    #: The notifier that carried it (``kannel``, ``wecom``, …, ``none``); None: not recorded (before 0005, or a
    #: claim whose worker vanished).
    vendor: str | None


@dataclass(frozen=True)
class EscalationRow:
    """An escalation step that notified somebody, with its row id and its alert's labels."""

    id: int
    alert_id: int
    labels: dict[str, Any]
    step: int
    targets: int
    severity: str
    at: datetime


#: An alert's first history entry: when it first fired.
_first = history.alias("first")


def _first_entry_of(alert_id: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """The join condition of ``_first`` with the alert ``alert_id``."""
    return sa.and_(_first.c.alert_id == alert_id, _first.c.seq == 1)


class FeedMixin(LedgerBase):
    """The change-feed part of :class:`alerting.ledger.Ledger`."""

    def transitions_after(self, last_id: int, limit: int = 5000) -> list[TransitionRow]:
        """Status changes (not comments) with an id above ``last_id``, oldest first."""
        query = (
            sa.select(
                history.c.id,
                history.c.alert_id,
                alerts.c.labels,
                history.c.from_status,
                history.c.to_status,
                history.c.at,
                history.c.by,
                history.c.via,
                _first.c.at.label("fired_at"),
            )
            .select_from(
                history.join(alerts, alerts.c.id == history.c.alert_id).join(
                    _first, _first_entry_of(history.c.alert_id)
                )
            )
            .where(history.c.id > last_id, history.c.to_status.is_not(None))
            .order_by(history.c.id)
            .limit(limit)
        )
        with self.transaction() as conn:
            return [TransitionRow(**row._asdict()) for row in conn.execute(query)]

    def attempts_after(self, last_id: int, limit: int = 5000) -> list[AttemptRow]:
        """Delivery attempts with an id above ``last_id``, oldest first."""
        table = attempts_table
        query = (
            sa.select(
                table.c.id,
                outbox.c.channel,
                outbox.c.recipient,
                table.c.attempt,
                table.c.outcome,
                table.c.at,
                outbox.c.created_at.label("queued_at"),
                table.c.vendor,
            )
            .select_from(table.join(outbox, outbox.c.key == table.c.outbox_key))
            .where(table.c.id > last_id)
            .order_by(table.c.id)
            .limit(limit)
        )
        with self.transaction() as conn:
            return [AttemptRow(**row._asdict()) for row in conn.execute(query)]

    def escalations_after(self, last_id: int, limit: int = 5000) -> list[EscalationRow]:
        """Escalation steps that notified somebody, with an id above ``last_id``, oldest first."""
        steps = escalation_steps
        query = (
            sa.select(
                steps.c.id,
                steps.c.alert_id,
                alerts.c.labels,
                steps.c.step,
                steps.c.targets,
                steps.c.severity,
                steps.c.at,
            )
            .select_from(steps.join(alerts, alerts.c.id == steps.c.alert_id))
            .where(steps.c.id > last_id)
            .order_by(steps.c.id)
            .limit(limit)
        )
        with self.transaction() as conn:
            return [EscalationRow(**row._asdict()) for row in conn.execute(query)]

    def open_alerts_fired(self) -> list[tuple[Alert, datetime]]:
        """Every open (firing or acknowledged) alert with when it first fired, oldest first."""
        query = (
            sa.select(alerts, _first.c.at.label("fired_at"))
            .select_from(alerts.join(_first, _first_entry_of(alerts.c.id)))
            .where(alerts.c.status != "resolved")
            .order_by(alerts.c.id)
        )
        with self.transaction() as conn:
            found = []
            for row in conn.execute(query):
                values = row._asdict()
                fired_at = values.pop("fired_at")
                found.append((Alert(**values), fired_at))
            return found

    def outbox_depth(self) -> dict[str, int]:
        """Outbox rows per state."""
        query = sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state)
        with self.transaction() as conn:
            return {state: int(n) for state, n in conn.execute(query)}
