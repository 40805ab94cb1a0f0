"""What every part of the ledger shares: the engine, transactions and dialect-aware inserts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alerting.ledger.models import Notification
from alerting.ledger.schema import outbox


def aware(now: datetime) -> datetime:
    """``now`` unchanged when timezone-aware; a naive time is refused (the ledger has no implicit zone)."""
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: pass a timezone-aware UTC time")
    return now


class LedgerBase:
    """Holds the engine; the parts of the ledger are mixins over it."""

    engine: sa.Engine
    _tx: threading.local

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One database transaction: committed on success, rolled back on any exception.

        Re-entrant per thread: a ledger call made inside ``with ledger.transaction():`` joins that
        transaction, so a worker writes a batch's effects and its consumer mark atomically.
        """
        local = self.__dict__.get("_tx")
        if local is None:
            local = self.__dict__.setdefault("_tx", threading.local())
        active: sa.Connection | None = getattr(local, "conn", None)
        if active is not None:
            yield active
            return
        with self.engine.begin() as conn:
            local.conn = conn
            try:
                yield conn
            finally:
                local.conn = None

    @staticmethod
    def insert_ignore(conn: sa.Connection, table: sa.Table, row: dict[str, Any], unique: str) -> bool:
        """Insert ``row`` unless a row with the same ``unique`` column exists; return True when inserted."""
        if conn.dialect.name == "postgresql":
            stmt: Any = postgresql.insert(table).on_conflict_do_nothing(index_elements=[unique])
        elif conn.dialect.name == "sqlite":
            stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=[unique])
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise NotImplementedError(conn.dialect.name)
        # RETURNING says whether a row was written (rowcount is -1 under implicit RETURNING).
        return conn.execute(stmt.returning(table.c[unique]), row).first() is not None

    def queue_notification(
        self,
        conn: sa.Connection,
        key: str,
        notification: Notification,
        now: datetime,
        alert_id: int | None = None,
        history_seq: int | None = None,
    ) -> bool:
        """Put one notification in the outbox under ``key``, due at its ``not_before`` or now, in the caller's
        transaction; False when the key was queued already."""
        values = {
            "key": key,
            "alert_id": alert_id,
            "history_seq": history_seq,
            "recipient": notification.recipient,
            "channel": notification.channel,
            "payload": notification.payload,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": notification.not_before or now,
            "created_at": now,
            "updated_at": now,
        }
        return self.insert_ignore(conn, outbox, values, "key")
