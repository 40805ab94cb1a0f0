"""0002: the notification outbox, delivery attempts, SMS receipts and API tokens.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEY = sa.String(300)


def upgrade() -> None:
    """Create outbox, delivery_attempts, receipts and api_tokens."""
    op.create_table(
        "outbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("key", KEY, nullable=False),
        sa.Column("alert_id", ID, nullable=True),
        sa.Column("history_seq", sa.Integer, nullable=True),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("vendor_id", sa.String(200), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("dead_reason", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name="fk_outbox_alert_id_alerts"),
        sa.CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed', 'dead')", name="ck_outbox_state"),
    )
    op.create_index("ix_outbox_state_next_attempt_at", "outbox", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_vendor_id", "outbox", ["vendor_id"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("outbox_key", KEY, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("worker_id", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("vendor_id", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_attempts"),
        sa.ForeignKeyConstraint(["outbox_key"], ["outbox.key"], name="fk_delivery_attempts_outbox_key_outbox"),
        sa.UniqueConstraint("outbox_key", "attempt", name="uq_delivery_attempts_outbox_key_attempt"),
        sa.CheckConstraint("outcome IN ('sent', 'retry', 'permanent')", name="ck_delivery_attempts_outcome"),
    )
    op.create_table(
        "receipts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("vendor_id", sa.String(200), nullable=False),
        sa.Column("outbox_key", KEY, nullable=True),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_receipts"),
        sa.ForeignKeyConstraint(["outbox_key"], ["outbox.key"], name="fk_receipts_outbox_key_outbox"),
    )
    op.create_index("ix_receipts_vendor_id", "receipts", ["vendor_id"])
    op.create_index("ix_receipts_outbox_key", "receipts", ["outbox_key"])
    op.create_table(
        "api_tokens",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_table("api_tokens")
    op.drop_index("ix_receipts_outbox_key", "receipts")
    op.drop_index("ix_receipts_vendor_id", "receipts")
    op.drop_table("receipts")
    op.drop_table("delivery_attempts")
    op.drop_index("ix_outbox_vendor_id", "outbox")
    op.drop_index("ix_outbox_state_next_attempt_at", "outbox")
    op.drop_table("outbox")
