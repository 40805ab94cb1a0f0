"""Consumer marks: the last input offset whose effects are in the ledger, per topic partition.

The alerting worker writes a batch's effects and its mark in one transaction, so
a record read again after a crash (Kafka delivers at least once) is skipped
instead of notifying twice.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from alerting.ledger.base import LedgerBase, aware
from alerting.ledger.schema import consumer_marks


class MarksMixin(LedgerBase):
    """The consumer-mark part of :class:`alerting.ledger.Ledger`."""

    def mark(self, source: str) -> int | None:
        """The last offset done for ``source`` (e.g. ``telewatch.anomalies/0``), None if none."""
        with self.transaction() as conn:
            query = sa.select(consumer_marks.c.offset).where(consumer_marks.c.source == source)
            return conn.execute(query.with_for_update()).scalar()

    def set_mark(self, source: str, offset: int, now: datetime) -> None:
        """Record that every record of ``source`` up to ``offset`` is done (never moves back)."""
        aware(now)
        with self.transaction() as conn:
            done = self.mark(source)
            if done is None:
                conn.execute(sa.insert(consumer_marks).values(source=source, offset=offset, updated_at=now))
            elif offset > done:
                conn.execute(
                    sa.update(consumer_marks)
                    .where(consumer_marks.c.source == source)
                    .values(offset=offset, updated_at=now)
                )
