"""Queue and agent statistics from the agent board: what a supervisor reads.

Service level is the share of queued calls answered within ``service_level_s``, over the
calls that ended in the period (answered, abandoned, or gone to a message); abandoned calls
count against it, as in most contact centers (calls abandoned in under 5 s are *short
abandons*, reported apart and left out of the service level). Times in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from voicebot.center.board_api import Board

SHORT_ABANDON_S = 5.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class AgentFigures:
    """One agent over the period: calls answered, seconds talked, offers missed/refused."""

    agent: str
    calls: int
    talk_s: float
    missed: int
    refused: int


@dataclass(frozen=True)
class QueueFigures:
    """The queues over a period.

    Attributes:
        queued: calls that entered a queue.
        answered / abandoned / messages: how they left it (``short_abandons`` of the
            abandoned hung up within 5 s).
        answered_within_sl: answered within ``service_level_s``.
        service_level: answered_within_sl / (answered + abandoned - short_abandons +
            messages), 0..1; 1.0 when no call counted.
        wait_s_mean / wait_s_p50 / wait_s_p95 / wait_s_max: time to answer of answered
            calls, s.
        abandon_wait_s_mean: how long abandoning callers waited, s.
        agents: per agent figures.
    """

    service_level_s: float
    queued: int
    answered: int
    abandoned: int
    short_abandons: int
    messages: int
    answered_within_sl: int
    service_level: float
    wait_s_mean: float
    wait_s_p50: float
    wait_s_p95: float
    wait_s_max: float
    abandon_wait_s_mean: float
    agents: list[AgentFigures] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def queue_figures(board: Board, since: float = 0.0, until: float = float("inf")) -> QueueFigures:
    """Figures of the calls that joined a queue in [since, until)."""
    sl = board.acd.service_level_s
    rows, offers = board.history(since, until)
    waits = [r["answered_at"] - r["joined_at"] for r in rows if r["state"] == "answered"]
    abandoned = [r for r in rows if r["state"] == "abandoned"]
    abandon_waits = [(r["ended_at"] or r["joined_at"]) - r["joined_at"] for r in abandoned]
    short = sum(1 for w in abandon_waits if w < SHORT_ABANDON_S)
    messages = sum(1 for r in rows if r["state"] == "message")
    within = sum(1 for w in waits if w <= sl)
    counted = len(waits) + len(abandoned) - short + messages
    per_agent: dict[str, dict[str, float]] = {}
    for o in offers:
        fig = per_agent.setdefault(
            o["agent"], {"calls": 0, "talk_s": 0.0, "missed": 0, "refused": 0}
        )
        if o["result"] == "answered":
            fig["calls"] += 1
            if o["ended_at"] is not None and o["answered_at"] is not None:
                fig["talk_s"] += o["ended_at"] - o["answered_at"]
        elif o["result"] in ("missed", "failed"):
            fig["missed"] += 1
        elif o["result"] == "refused":
            fig["refused"] += 1
    agents = [
        AgentFigures(
            key,
            int(per_agent.get(key, {}).get("calls", 0)),
            round(per_agent.get(key, {}).get("talk_s", 0.0), 1),
            int(per_agent.get(key, {}).get("missed", 0)),
            int(per_agent.get(key, {}).get("refused", 0)),
        )
        for key in board.roster.agents
    ]
    return QueueFigures(
        service_level_s=sl,
        queued=len(rows),
        answered=len(waits),
        abandoned=len(abandoned),
        short_abandons=short,
        messages=messages,
        answered_within_sl=within,
        service_level=round(within / counted, 4) if counted else 1.0,
        wait_s_mean=round(sum(waits) / len(waits), 2) if waits else 0.0,
        wait_s_p50=round(_percentile(waits, 0.5), 2),
        wait_s_p95=round(_percentile(waits, 0.95), 2),
        wait_s_max=round(max(waits), 2) if waits else 0.0,
        abandon_wait_s_mean=(
            round(sum(abandon_waits) / len(abandon_waits), 2) if abandon_waits else 0.0
        ),
        agents=agents,
    )
