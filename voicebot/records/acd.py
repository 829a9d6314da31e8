"""ACD statistics kept with the call records: one ``queue_stays`` row per queued call.

Written when a call's time in a department queue ends (:func:`record_stay`, called by
:class:`~voicebot.center.callqueue.AcdLine`), read by the dashboard's statistics page
(:func:`acd_figures`). The agent board only holds the last days; these rows are kept as long
as the call records (``records.retention_days``).

Service level as :mod:`voicebot.center.acd_stats` defines it: calls answered within the
threshold over the queued calls that ended — answered, abandoned, or gone to a message —
leaving out *short abandons* (callers who hung up within 5 s). Times in seconds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from voicebot.center.acd_stats import SHORT_ABANDON_S, _percentile
from voicebot.center.distributor import QueueStay
from voicebot.records.schema import queue_stays
from voicebot.records.store import RecordStore


@dataclass(frozen=True)
class AgentLine:
    """One agent over a period: calls answered, seconds talked, offers let ring out."""

    agent: str
    calls: int
    talk_s: float
    missed: int


@dataclass(frozen=True)
class AcdFigures:
    """The department queues over a date range [start, end).

    Attributes:
        queued: calls that waited in a queue.
        answered / abandoned / messages: how they left it; ``short_abandons`` of the
            abandoned hung up within 5 s.
        answered_within_sl: answered within their service-level threshold.
        service_level: answered_within_sl / (answered + abandoned - short_abandons +
            messages), 0..1; None when no call counted.
        wait_s_p50 / wait_s_p95 / wait_s_max: time to answer of answered calls, s.
        abandon_wait_s_mean: how long abandoning callers waited, s.
        talk_s_mean: mean talk time of answered calls, s.
        by_department: department -> queued calls.
        agents: per agent, most calls first.
        service_level_s: the service-level threshold of the calls, s (the latest).
    """

    queued: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    messages: int = 0
    answered_within_sl: int = 0
    service_level: float | None = None
    wait_s_p50: float | None = None
    wait_s_p95: float | None = None
    wait_s_max: float | None = None
    abandon_wait_s_mean: float | None = None
    talk_s_mean: float | None = None
    by_department: dict[str, int] = field(default_factory=dict)
    agents: list[AgentLine] = field(default_factory=list)
    service_level_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_stay(
    store: RecordStore,
    call_ref: str,
    department: str,
    joined_at: datetime,
    stay: QueueStay,
    service_level_s: float,
) -> None:
    """Write how one call's queue time ended (``joined_at``: naive UTC)."""
    answered = stay.result == "answered"
    with store._tx(f"record the queue stay of {call_ref}") as conn:
        conn.execute(
            sa.insert(queue_stays).values(
                call_ref=call_ref,
                department=department,
                joined_at=joined_at,
                result=stay.result,
                wait_s=round(stay.wait_s, 3),
                service_level_s=service_level_s,
                within_sl=int(answered and stay.wait_s <= service_level_s),
                agent=stay.agent,
                talk_s=round(stay.talk_s, 3),
                offers=json.dumps([list(o) for o in stay.offers]),
                announcements=stay.announcements,
            )
        )


def acd_figures(store: RecordStore, start: datetime, end: datetime) -> AcdFigures:
    """The ACD figures of the calls that joined a queue in [start, end)."""
    q = queue_stays.c
    with store._read("compute the ACD statistics") as conn:
        rows = conn.execute(
            sa.select(
                q.department,
                q.result,
                q.wait_s,
                q.within_sl,
                q.agent,
                q.talk_s,
                q.offers,
                q.service_level_s,
            )
            .where(q.joined_at >= start, q.joined_at < end)
            .order_by(q.joined_at)
        ).all()
    if not rows:
        return AcdFigures()
    waits = [r.wait_s for r in rows if r.result == "answered"]
    abandon_waits = [r.wait_s for r in rows if r.result == "abandoned"]
    short = sum(1 for w in abandon_waits if w < SHORT_ABANDON_S)
    messages = sum(1 for r in rows if r.result == "message")
    within = sum(int(r.within_sl) for r in rows)
    counted = len(waits) + len(abandon_waits) - short + messages
    per: dict[str, list[float]] = {}
    departments: dict[str, int] = {}
    talks = []
    for r in rows:
        departments[r.department] = departments.get(r.department, 0) + 1
        if r.result == "answered" and r.agent:
            fig = per.setdefault(r.agent, [0, 0.0, 0])
            fig[0] += 1
            fig[1] += float(r.talk_s or 0.0)
            talks.append(float(r.talk_s or 0.0))
        for agent, result in json.loads(r.offers or "[]"):
            if result in ("missed", "failed"):
                per.setdefault(agent, [0, 0.0, 0])[2] += 1
    agents = sorted(
        (AgentLine(k, int(v[0]), round(v[1], 1), int(v[2])) for k, v in per.items()),
        key=lambda a: (-a.calls, a.agent),
    )
    return AcdFigures(
        queued=len(rows),
        answered=len(waits),
        abandoned=len(abandon_waits),
        short_abandons=short,
        messages=messages,
        answered_within_sl=within,
        service_level=round(within / counted, 4) if counted else None,
        wait_s_p50=round(_percentile(waits, 0.5), 2) if waits else None,
        wait_s_p95=round(_percentile(waits, 0.95), 2) if waits else None,
        wait_s_max=round(max(waits), 2) if waits else None,
        abandon_wait_s_mean=(
            round(sum(abandon_waits) / len(abandon_waits), 2) if abandon_waits else None
        ),
        talk_s_mean=round(sum(talks) / len(talks), 1) if talks else None,
        by_department=departments,
        agents=agents,
        service_level_s=float(rows[-1].service_level_s),
    )


def delete_stays_before(store: RecordStore, cutoff: datetime) -> int:
    """Delete queue stays that joined before ``cutoff`` (retention); returns how many."""
    with store._tx("delete old queue stays") as conn:
        res = conn.execute(sa.delete(queue_stays).where(queue_stays.c.joined_at < cutoff))
        return int(res.rowcount or 0)
