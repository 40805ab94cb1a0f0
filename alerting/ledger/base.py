"""What every part of the ledger shares: the engine, transactions and dialect-aware inserts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def aware(now: datetime) -> datetime:
    """``now`` unchanged when timezone-aware; a naive time is refused (the ledger has no implicit zone)."""
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: pass a timezone-aware UTC time")
    return now


class LedgerBase:
    """Holds the engine; the parts of the ledger are mixins over it."""

    engine: sa.Engine

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One database transaction: committed on success, rolled back on any exception."""
        with self.engine.begin() as conn:
            yield conn

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
