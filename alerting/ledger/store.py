"""The Ledger: alerts, history, silences, the notification outbox and API tokens in one database.

``Ledger.open(url)`` connects (SQLite file or PostgreSQL), migrates to this
code's head and refuses a database migrated by newer code. Nothing lives only
in memory, and no method reads a clock: callers pass ``now``.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from typing import Any

import sqlalchemy as sa

from alerting.ledger import migrate
from alerting.ledger.alerts import AlertsMixin
from alerting.ledger.errors import LedgerError
from alerting.ledger.feed import FeedMixin
from alerting.ledger.groups import GroupsMixin
from alerting.ledger.links import LinksMixin
from alerting.ledger.marks import MarksMixin
from alerting.ledger.outbox import OutboxMixin
from alerting.ledger.queries import QueriesMixin
from alerting.ledger.silences import SilencesMixin
from alerting.ledger.stats import StatsMixin
from alerting.ledger.tokens import TokensMixin


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's deferred BEGIN.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    for pragma in ("foreign_keys = ON", "busy_timeout = 30000", "journal_mode = WAL", "synchronous = NORMAL"):
        _pragma(cursor, pragma)
    cursor.close()


def _pragma(cursor: Any, pragma: str) -> None:
    """Run a PRAGMA; switching to WAL needs a moment alone with a new file and does not wait on busy_timeout,
    so several workers opening one new ledger at once retry it (for up to 30 s) instead of failing."""
    for attempt in itertools.count():
        try:
            cursor.execute(f"PRAGMA {pragma}")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt >= 600:
                raise
            time.sleep(0.05)


def _sqlite_begin(conn: sa.Connection) -> None:
    # One writer at a time: take the write lock when the transaction starts, never half-way.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | sa.URL) -> sa.Engine:
    """An engine for a SQLite file or PostgreSQL (``postgresql://`` uses psycopg 3)."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise LedgerError("the ledger needs a SQLite file (sqlite:///path/ledger.db), not an in-memory database")
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise LedgerError(f"unsupported ledger database {parsed.drivername!r}: use sqlite:///… or postgresql://…")


class Ledger(
    LinksMixin,
    AlertsMixin,
    OutboxMixin,
    SilencesMixin,
    TokensMixin,
    GroupsMixin,
    MarksMixin,
    FeedMixin,
    QueriesMixin,
    StatsMixin,
):
    """The alert ledger over one database; safe to share between threads."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str | sa.URL) -> Ledger:
        """Connect, upgrade the schema to head and return the ledger (SchemaTooNew if the database is newer)."""
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
