"""0001: alerts, their history and silences.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create alerts, alert_history and silences."""
    op.create_table(
        "alerts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("peak", sa.Float, nullable=False),
        sa.Column("expected", sa.Float, nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("ack_deadline", TS, nullable=True),
        sa.Column("escalation_step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_escalation_at", TS, nullable=True),
        sa.Column("normal_windows", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint("status IN ('firing', 'acknowledged', 'resolved')", name="ck_alerts_status"),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index(
        "ix_alerts_open_fingerprint",
        "alerts",
        ["fingerprint"],
        unique=True,
        sqlite_where=sa.text("status <> 'resolved'"),
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    op.create_index("ix_alerts_status_ack_deadline", "alerts", ["status", "ack_deadline"])
    op.create_table(
        "alert_history",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", ID, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_history"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name="fk_alert_history_alert_id_alerts"),
        sa.UniqueConstraint("alert_id", "seq", name="uq_alert_history_alert_id_seq"),
        sa.CheckConstraint("via IN ('sms_link', 'im', 'api', 'auto')", name="ck_alert_history_via"),
    )
    op.create_table(
        "silences",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("matchers", JSON, nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_silences"),
        sa.CheckConstraint("ends_at >= starts_at", name="ck_silences_window"),
    )


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_table("silences")
    op.drop_table("alert_history")
    op.drop_index("ix_alerts_status_ack_deadline", "alerts")
    op.drop_index("ix_alerts_open_fingerprint", "alerts")
    op.drop_table("alerts")
