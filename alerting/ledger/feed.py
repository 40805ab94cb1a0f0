"""The ledger's changes in order, for writing them elsewhere (InfluxDB): transitions and delivery attempts by id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from alerting.ledger.base import LedgerBase
from alerting.ledger.schema import alerts, history, outbox
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


@dataclass(frozen=True)
class AttemptRow:
    """A delivery attempt with its row id, channel, recipient and when its row was queued."""

    id: int
    channel: str
    recipient: str
    attempt: int
    outcome: str
    at: datetime
    queued_at: datetime


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
            )
            .select_from(history.join(alerts, alerts.c.id == history.c.alert_id))
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
            )
            .select_from(table.join(outbox, outbox.c.key == table.c.outbox_key))
            .where(table.c.id > last_id)
            .order_by(table.c.id)
            .limit(limit)
        )
        with self.transaction() as conn:
            return [AttemptRow(**row._asdict()) for row in conn.execute(query)]

    def outbox_depth(self) -> dict[str, int]:
        """Outbox rows per state."""
        query = sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state)
        with self.transaction() as conn:
            return {state: int(n) for state, n in conn.execute(query)}
