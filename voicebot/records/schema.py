"""The call-record tables (SQLAlchemy Core). Alembic's ``migrations/`` creates them.

Times are naive UTC datetimes. ``turns.call_started_at`` repeats the call's start so the
statistics over a date range read one index of the turns table; ``turns.latency_bucket``
is the turn latency in :data:`LATENCY_BUCKET_MS` steps, so latency percentiles are a
GROUP BY instead of a sort of every turn.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

LATENCY_BUCKET_MS = 10
"""Width of one turn-latency bucket, ms (percentiles are exact to this)."""

OUTCOMES = ("resolved", "routed", "message", "abandoned", "error")

metadata = MetaData()

calls = Table(
    "calls",
    metadata,
    Column("id", String(64), primary_key=True),  # internal call ID
    Column("sip_call_id", String(255), index=True),
    Column("direction", String(16), nullable=False, default="inbound"),
    Column("caller_id", String(128)),
    Column("started_at", DateTime, nullable=False),
    Column("answered_at", DateTime),
    Column("ended_at", DateTime),
    Column("duration_s", Float),
    Column("start_hour", Integer, nullable=False),  # UTC hour of day, 0..23
    Column("status", String(16), nullable=False, default="live"),  # live / ended
    Column("outcome", String(16)),  # one of OUTCOMES once ended
    Column("department", String(64)),
    Column("reason", String(64)),
    Column("transfer_result", String(32)),
    Column("handoff", Text),  # the hand-off record, JSON
    Column("current_intent", String(128)),
    Column("doing", String(255)),  # what the bot is doing now (live view)
    Column("turn_count", Integer, nullable=False, default=0),
    Column("greeting", Text),  # JSON list: what the bot said before the first turn
    Column("errors", Text),  # JSON list of "code: message"
    Column("recording_path", Text),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_calls_started_at", "started_at"),
    Index("ix_calls_status", "status"),
    Index("ix_calls_department_started", "department", "started_at"),
)

turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(64), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("call_started_at", DateTime, nullable=False),
    Column("start_s", Float, nullable=False),  # on the call's line clock, s
    Column("end_s", Float, nullable=False),
    Column("source", String(16), nullable=False),  # speech / dtmf / mixed
    Column("expect", String(16)),
    Column("heard", Text, nullable=False),  # identification answers: "[redacted]"
    Column("redacted", Integer, nullable=False, default=0),
    Column("asr_confidence", Float),
    Column("intent", String(128)),
    Column("intent_confidence", Float),
    Column("action", String(255)),
    Column("bot", Text),  # JSON list of what the bot said
    Column("endpoint_ms", Float),
    Column("asr_ms", Float),
    Column("dialog_ms", Float),
    Column("tts_first_ms", Float),
    Column("latency_ms", Float),
    Column("latency_bucket", Integer),
    UniqueConstraint("call_id", "idx", name="uq_turns_call_idx"),
    Index(
        "ix_turns_stats",
        "call_started_at",
        "intent",
        "latency_bucket",
        "asr_confidence",
        "source",
    ),
)

message_marks = Table(
    "message_marks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", Integer, nullable=False, index=True),
    Column("department", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # done / open (a mark is never removed)
    Column("marked_by", String(128), nullable=False),
    Column("marked_at", DateTime, nullable=False),
)

stats_days = Table(
    "stats_days",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD (UTC)
    Column("payload", Text, nullable=False),  # JSON aggregates of the day's calls
    Column("computed_at", DateTime, nullable=False),
)

queue_stays = Table(
    "queue_stays",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_ref", String(255), nullable=False, index=True),  # the queued call's SIP Call-ID
    Column("department", String(64), nullable=False),
    Column("joined_at", DateTime, nullable=False),  # when the call joined the queue (UTC)
    Column("result", String(16), nullable=False),  # answered / abandoned / message
    Column("wait_s", Float, nullable=False),  # joined -> agent answered (or -> left), s
    Column("service_level_s", Float, nullable=False),  # the threshold then, s
    Column("within_sl", Integer, nullable=False),  # 1: answered within service_level_s
    Column("agent", String(64)),  # who took the call
    Column("talk_s", Float, nullable=False, default=0.0),  # caller joined to agent, s
    Column("offers", Text),  # JSON list of [agent, result] in ring order
    Column("announcements", Integer, nullable=False, default=0),
    Index("ix_queue_stays_joined", "joined_at", "department"),
)
"""One row per call that waited in an ACD queue, written when its queue time ends (the
ACD statistics: service level, waits, abandoned, per-agent calls and talk time)."""
