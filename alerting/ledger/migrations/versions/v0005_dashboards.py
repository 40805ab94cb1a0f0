"""0005: the vendor of each delivery attempt, and the escalation steps that notified somebody (for the feed).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add delivery_attempts.vendor (attempts recorded before stay NULL); create escalation_steps."""
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.add_column(sa.Column("vendor", sa.String(64), nullable=True))
    op.create_table(
        "escalation_steps",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", ID, nullable=False),
        sa.Column("history_seq", sa.Integer, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("targets", sa.Integer, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_escalation_steps"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name="fk_escalation_steps_alert_id_alerts"),
        sa.UniqueConstraint("alert_id", "history_seq", "step", name="uq_escalation_steps_alert_id_history_seq_step"),
    )


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_table("escalation_steps")
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.drop_column("vendor")
