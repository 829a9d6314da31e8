"""Daily statistics rollups: the aggregates of each closed day, kept so that the
statistics of a long date range read one row per day instead of every record.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_days",
        sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD (UTC)
        sa.Column("payload", sa.Text, nullable=False),  # JSON aggregates
        sa.Column("computed_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stats_days")
