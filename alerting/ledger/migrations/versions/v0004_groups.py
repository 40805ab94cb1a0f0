"""0004: aggregation groups, consumer marks, the escalation repeat count and alert annotations.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    """Create notify_groups and consumer_marks; add alerts.escalation_repeats and alerts.annotations."""
    op.create_table(
        "notify_groups",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("receiver", sa.String(200), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("members", JSON, nullable=False),
        sa.Column("sent", JSON, nullable=False),
        sa.Column("next_at", TS, nullable=False),
        sa.Column("last_sent_at", TS, nullable=True),
        sa.Column("group_interval_s", sa.Float, nullable=False),
        sa.Column("repeat_interval_s", sa.Float, nullable=False),
        sa.Column("flushes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_notify_groups_next_at", "notify_groups", ["next_at"])
    op.create_table(
        "consumer_marks",
        sa.Column("source", sa.String(300), primary_key=True),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("escalation_repeats", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("annotations", JSON, nullable=True))


def downgrade() -> None:
    """Drop what upgrade created."""
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("annotations")
        batch.drop_column("escalation_repeats")
    op.drop_table("consumer_marks")
    op.drop_index("ix_notify_groups_next_at", "notify_groups")
    op.drop_table("notify_groups")
