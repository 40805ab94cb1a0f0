"""Aggregate counts for monitoring (``/metrics``, ``/health``): read-only, computed when asked."""

from __future__ import annotations

import sqlalchemy as sa

from alerting.ledger.base import LedgerBase
from alerting.ledger.schema import OUTCOMES, STATUSES, alerts, outbox, receipts
from alerting.ledger.schema import attempts as attempts_table


class StatsMixin(LedgerBase):
    """The counting part of :class:`alerting.ledger.Ledger`."""

    def ping(self) -> None:
        """Run a trivial query; raises when the database cannot be reached."""
        with self.transaction() as conn:
            conn.execute(sa.select(sa.literal(1))).scalar_one()

    def alert_counts(self) -> dict[str, int]:
        """Alerts per status (every status present, zero when none)."""
        query = sa.select(alerts.c.status, sa.func.count()).group_by(alerts.c.status)
        with self.transaction() as conn:
            found = {status: int(n) for status, n in conn.execute(query)}
        return {status: found.get(status, 0) for status in STATUSES} | found

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        """Outbox rows per (state, channel) that has any."""
        query = sa.select(outbox.c.state, outbox.c.channel, sa.func.count()).group_by(outbox.c.state, outbox.c.channel)
        with self.transaction() as conn:
            return {(state, channel): int(n) for state, channel, n in conn.execute(query)}

    def attempt_counts(self) -> dict[tuple[str, str], int]:
        """Delivery attempts per (channel, outcome); every outcome of a channel present, zero when none."""
        table = attempts_table
        query = (
            sa.select(outbox.c.channel, table.c.outcome, sa.func.count())
            .select_from(table.join(outbox, outbox.c.key == table.c.outbox_key))
            .group_by(outbox.c.channel, table.c.outcome)
        )
        with self.transaction() as conn:
            found = {(channel, outcome): int(n) for channel, outcome, n in conn.execute(query)}
        channels = {channel for channel, _ in found}
        return {(c, o): found.get((c, o), 0) for c in sorted(channels) for o in OUTCOMES} | found

    def receipt_counts(self) -> dict[str, int]:
        """Delivery receipts per status."""
        query = sa.select(receipts.c.status, sa.func.count()).group_by(receipts.c.status)
        with self.transaction() as conn:
            return {status: int(n) for status, n in conn.execute(query)}
