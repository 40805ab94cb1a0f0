"""The ledger's tables (SQLAlchemy Core), as the newest migration leaves them.

The migrations under ``migrations/versions`` create these tables; a test
compares this metadata with a migrated database so the two cannot drift.
Every time is timezone-aware UTC (:class:`UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

STATUSES = ("firing", "acknowledged", "resolved")
VIAS = ("sms_link", "im", "api", "auto")
OUTBOX_STATES = ("pending", "sending", "sent", "failed", "dead")
OUTCOMES = ("sent", "retry", "permanent")
SCOPES = ("read", "write", "admin")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database; a naive datetime is refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the ledger takes timezone-aware times only")
        value = value.astimezone(UTC)
        # SQLite keeps text: store naive UTC so that text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _id() -> sa.types.TypeEngine[int]:
    # SQLite's autoincrement needs INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit id.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", _id(), primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(200), nullable=False),
    sa.Column("labels", _json(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("peak", sa.Float, nullable=False),
    sa.Column("expected", sa.Float, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.Column("ack_deadline", UTCDateTime, nullable=True),
    sa.Column("escalation_step", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_escalation_at", UTCDateTime, nullable=True),
    sa.Column("normal_windows", sa.Integer, nullable=False, server_default="0"),
    sa.Column("escalation_repeats", sa.Integer, nullable=False, server_default="0"),
    sa.Column("annotations", _json(), nullable=True),
    sa.CheckConstraint(_in("status", STATUSES), name="status"),
    # At most one open alert per fingerprint: a second worker's insert fails instead of duplicating.
    sa.Index(
        "ix_alerts_open_fingerprint",
        "fingerprint",
        unique=True,
        sqlite_where=sa.text("status <> 'resolved'"),
        postgresql_where=sa.text("status <> 'resolved'"),
    ),
    sa.Index("ix_alerts_status_ack_deadline", "status", "ack_deadline"),
)

history = sa.Table(
    "alert_history",
    metadata,
    sa.Column("id", _id(), primary_key=True, autoincrement=True),
    sa.Column("alert_id", _id(), sa.ForeignKey("alerts.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("from_status", sa.String(16), nullable=True),
    sa.Column("to_status", sa.String(16), nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("via", sa.String(16), nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.UniqueConstraint("alert_id", "seq"),
    sa.CheckConstraint(_in("via", VIAS), name="via"),
)

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("matchers", _json(), nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("ends_at >= starts_at", name="window"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", _id(), primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("alert_id", _id(), sa.ForeignKey("alerts.id"), nullable=True),
    sa.Column("history_seq", sa.Integer, nullable=True),
    sa.Column("recipient", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("payload", _json(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("claimed_by", sa.String(200), nullable=True),
    sa.Column("claimed_at", UTCDateTime, nullable=True),
    sa.Column("vendor_id", sa.String(200), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("dead_reason", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
    sa.Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
    sa.Index("ix_outbox_vendor_id", "vendor_id"),
)

attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("id", _id(), primary_key=True, autoincrement=True),
    sa.Column("outbox_key", sa.String(300), sa.ForeignKey("outbox.key"), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("worker_id", sa.String(200), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("vendor_id", sa.String(200), nullable=True),
    #: The notifier that carried the attempt (``kannel``, ``wecom``, …; ``none``: no notifier could); NULL before 0005.
    sa.Column("vendor", sa.String(64), nullable=True),
    sa.UniqueConstraint("outbox_key", "attempt"),
    sa.CheckConstraint(_in("outcome", OUTCOMES), name="outcome"),
)

#: Escalation steps that notified somebody: one row per step of a history entry ("escalation: …"), for the feed.
escalation_steps = sa.Table(
    "escalation_steps",
    metadata,
    sa.Column("id", _id(), primary_key=True, autoincrement=True),
    sa.Column("alert_id", _id(), sa.ForeignKey("alerts.id"), nullable=False),
    sa.Column("history_seq", sa.Integer, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("targets", sa.Integer, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("alert_id", "history_seq", "step"),
)

receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("id", _id(), primary_key=True, autoincrement=True),
    sa.Column("vendor_id", sa.String(200), nullable=False),
    sa.Column("outbox_key", sa.String(300), sa.ForeignKey("outbox.key"), nullable=True),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Index("ix_receipts_vendor_id", "vendor_id"),
    sa.Index("ix_receipts_outbox_key", "outbox_key"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", _id(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", _json(), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

#: Aggregation groups (Alertmanager's): members and what was last sent, so a restart resumes them.
notify_groups = sa.Table(
    "notify_groups",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("route", sa.String(200), nullable=False),
    sa.Column("receiver", sa.String(200), nullable=False),
    sa.Column("labels", _json(), nullable=False),
    sa.Column("members", _json(), nullable=False),
    sa.Column("sent", _json(), nullable=False),
    sa.Column("next_at", UTCDateTime, nullable=False),
    sa.Column("last_sent_at", UTCDateTime, nullable=True),
    sa.Column("group_interval_s", sa.Float, nullable=False),
    sa.Column("repeat_interval_s", sa.Float, nullable=False),
    sa.Column("flushes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_notify_groups_next_at", "next_at"),
)

#: The last offset whose effect is in the ledger, per topic partition: a record read again is skipped.
consumer_marks = sa.Table(
    "consumer_marks",
    metadata,
    sa.Column("source", sa.String(300), primary_key=True),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

#: Ack links already used: a link works once (its digest, never the token itself).
used_links = sa.Table(
    "used_links",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("alert_id", _id(), sa.ForeignKey("alerts.id"), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=False),
    sa.Column("used_by", sa.String(200), nullable=False),
)
