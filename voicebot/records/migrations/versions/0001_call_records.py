"""Call records: calls, turns and message marks.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("sip_call_id", sa.String(255)),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("caller_id", sa.String(128)),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("answered_at", sa.DateTime),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("duration_s", sa.Float),
        sa.Column("start_hour", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("department", sa.String(64)),
        sa.Column("reason", sa.String(64)),
        sa.Column("transfer_result", sa.String(32)),
        sa.Column("handoff", sa.Text),
        sa.Column("current_intent", sa.String(128)),
        sa.Column("doing", sa.String(255)),
        sa.Column("turn_count", sa.Integer, nullable=False),
        sa.Column("greeting", sa.Text),
        sa.Column("errors", sa.Text),
        sa.Column("recording_path", sa.Text),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_calls_sip_call_id", "calls", ["sip_call_id"])
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_index("ix_calls_status", "calls", ["status"])
    op.create_index("ix_calls_department_started", "calls", ["department", "started_at"])
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "call_id",
            sa.String(64),
            sa.ForeignKey("calls.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("call_started_at", sa.DateTime, nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("expect", sa.String(16)),
        sa.Column("heard", sa.Text, nullable=False),
        sa.Column("redacted", sa.Integer, nullable=False),
        sa.Column("asr_confidence", sa.Float),
        sa.Column("intent", sa.String(128)),
        sa.Column("intent_confidence", sa.Float),
        sa.Column("action", sa.String(255)),
        sa.Column("bot", sa.Text),
        sa.Column("endpoint_ms", sa.Float),
        sa.Column("asr_ms", sa.Float),
        sa.Column("dialog_ms", sa.Float),
        sa.Column("tts_first_ms", sa.Float),
        sa.Column("latency_ms", sa.Float),
        sa.Column("latency_bucket", sa.Integer),
        sa.UniqueConstraint("call_id", "idx", name="uq_turns_call_idx"),
    )
    op.create_index(
        "ix_turns_stats",
        "turns",
        ["call_started_at", "intent", "latency_bucket", "asr_confidence", "source"],
    )
    op.create_table(
        "message_marks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.Integer, nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("marked_by", sa.String(128), nullable=False),
        sa.Column("marked_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_message_marks_message_id", "message_marks", ["message_id"])


def downgrade() -> None:
    op.drop_table("message_marks")
    op.drop_table("turns")
    op.drop_table("calls")
