"""0003: the ack links already used (single use: a link's digest, never the token itself).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create used_links."""
    op.create_table(
        "used_links",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("alert_id", ID, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("used_at", TS, nullable=False),
        sa.Column("used_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_used_links"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name="fk_used_links_alert_id_alerts"),
    )


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_table("used_links")
