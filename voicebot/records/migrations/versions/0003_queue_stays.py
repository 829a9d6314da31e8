"""ACD statistics: one row per call that waited in a department queue (queue_stays).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_stays",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_ref", sa.String(255), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("joined_at", sa.DateTime, nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("wait_s", sa.Float, nullable=False),
        sa.Column("service_level_s", sa.Float, nullable=False),
        sa.Column("within_sl", sa.Integer, nullable=False),
        sa.Column("agent", sa.String(64)),
        sa.Column("talk_s", sa.Float, nullable=False),
        sa.Column("offers", sa.Text),
        sa.Column("announcements", sa.Integer, nullable=False),
    )
    op.create_index("ix_queue_stays_call_ref", "queue_stays", ["call_ref"])
    op.create_index("ix_queue_stays_joined", "queue_stays", ["joined_at", "department"])


def downgrade() -> None:
    op.drop_index("ix_queue_stays_joined", "queue_stays")
    op.drop_index("ix_queue_stays_call_ref", "queue_stays")
    op.drop_table("queue_stays")
