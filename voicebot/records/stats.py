"""Statistics over the call records of a date range (the dashboard's numbers).

Four aggregate queries: outcomes with call lengths, hand-offs by department and reason,
calls per hour of day (``calls.start_hour``), and one pass over the turns' stats index
grouped by intent, source and latency bucket, from which the top intents, the mean ASR
confidence and the latency percentiles (exact to
:data:`~voicebot.records.schema.LATENCY_BUCKET_MS`) are computed. The aggregates of a closed
day (before today, no call of it still live) never change: they are stored once in
``stats_days`` and a long range reads one row per day.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from voicebot.records.schema import LATENCY_BUCKET_MS, OUTCOMES, calls, turns
from voicebot.records.store import RecordStore, utcnow

PROMETHEUS_LATENCY_LE_S = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


@dataclass
class Stats:
    """The numbers of one date range [start, end)."""

    start: datetime
    end: datetime
    calls: int = 0
    live: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    avg_duration_s: float | None = None
    handoffs_by_department: dict[str, int] = field(default_factory=dict)
    handoffs_by_reason: dict[str, int] = field(default_factory=dict)
    calls_per_hour: list[int] = field(default_factory=lambda: [0] * 24)
    turns: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    asr_confidence: float | None = None
    """Mean ASR confidence of speech turns (0..1)."""
    top_intents: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ended(self) -> int:
        return sum(self.outcomes.values())

    @property
    def containment(self) -> float | None:
        """Share of ended calls resolved by the bot with no person (0..1)."""
        return self.outcomes.get("resolved", 0) / self.ended if self.ended else None

    @property
    def handoffs(self) -> int:
        return self.outcomes.get("routed", 0) + self.outcomes.get("message", 0)

    @property
    def abandoned(self) -> int:
        return self.outcomes.get("abandoned", 0)


def percentile_from_buckets(buckets: dict[int, int], q: float) -> float | None:
    """The ``q`` quantile (0..1, nearest rank) of values counted in LATENCY_BUCKET_MS-wide
    buckets, ms (the bucket's middle)."""
    total = sum(buckets.values())
    if not total:
        return None
    rank = max(math.ceil(q * total), 1)
    seen = 0
    for bucket in sorted(buckets):
        seen += buckets[bucket]
        if seen >= rank:
            return (bucket + 0.5) * LATENCY_BUCKET_MS
    return (max(buckets) + 0.5) * LATENCY_BUCKET_MS


def _partial(store: RecordStore, start: datetime, end: datetime) -> dict[str, Any]:
    """The raw aggregates of calls started in [start, end) (mergeable across ranges)."""
    c, t = calls.c, turns.c
    in_range = sa.and_(c.started_at >= start, c.started_at < end)
    p: dict[str, Any] = {
        "calls": 0, "live": 0, "outcomes": {}, "dur_sum": 0.0, "dept": {}, "reason": {},
        "hours": [0] * 24, "turns": 0, "buckets": {}, "intents": {}, "conf_sum": 0.0,
        "conf_n": 0,
    }  # fmt: skip
    with store._read("compute statistics") as conn:
        for status, outcome, n, dur in conn.execute(
            sa.select(c.status, c.outcome, sa.func.count(), sa.func.sum(c.duration_s))
            .where(in_range)
            .group_by(c.status, c.outcome)
        ):
            p["calls"] += n
            if status == "live":
                p["live"] += n
                continue
            key = outcome or "error"
            p["outcomes"][key] = p["outcomes"].get(key, 0) + n
            p["dur_sum"] += float(dur or 0.0)
        for dept, reason, n in conn.execute(
            sa.select(c.department, c.reason, sa.func.count())
            .where(in_range, c.outcome.in_(("routed", "message")))
            .group_by(c.department, c.reason)
        ):
            d, r = dept or "-", reason or "-"
            p["dept"][d] = p["dept"].get(d, 0) + n
            p["reason"][r] = p["reason"].get(r, 0) + n
        for hour, n in conn.execute(
            sa.select(c.start_hour, sa.func.count()).where(in_range).group_by(c.start_hour)
        ):
            p["hours"][int(hour) % 24] += n
        for intent, source, bucket, n, conf in conn.execute(
            sa.select(
                t.intent, t.source, t.latency_bucket, sa.func.count(), sa.func.sum(t.asr_confidence)
            )
            .where(t.call_started_at >= start, t.call_started_at < end)
            .group_by(t.intent, t.source, t.latency_bucket)
        ):
            p["turns"] += n
            if intent:
                p["intents"][intent] = p["intents"].get(intent, 0) + n
            if bucket is not None:
                p["buckets"][str(bucket)] = p["buckets"].get(str(bucket), 0) + n
            if source != "dtmf" and conf is not None:
                p["conf_sum"] += float(conf)
                p["conf_n"] += n
    return p


def _merge(start: datetime, end: datetime, parts: list[dict[str, Any]], top: int) -> Stats:
    st = Stats(start, end)
    buckets: Counter[int] = Counter()
    intents: Counter[str] = Counter()
    dur_sum, conf_sum, conf_n = 0.0, 0.0, 0
    for p in parts:
        st.calls += p["calls"]
        st.live += p["live"]
        st.turns += p["turns"]
        dur_sum += p["dur_sum"]
        conf_sum += p["conf_sum"]
        conf_n += p["conf_n"]
        for target, source in (
            (st.outcomes, p["outcomes"]),
            (st.handoffs_by_department, p["dept"]),
            (st.handoffs_by_reason, p["reason"]),
        ):
            for k, v in source.items():
                target[k] = target.get(k, 0) + v
        st.calls_per_hour = [a + b for a, b in zip(st.calls_per_hour, p["hours"], strict=True)]
        buckets.update({int(k): v for k, v in p["buckets"].items()})
        intents.update(p["intents"])
    st.avg_duration_s = dur_sum / st.ended if st.ended else None
    st.latency_p50_ms = percentile_from_buckets(buckets, 0.5)
    st.latency_p95_ms = percentile_from_buckets(buckets, 0.95)
    st.asr_confidence = conf_sum / conf_n if conf_n else None
    st.top_intents = sorted(intents.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return st


def compute_stats(
    store: RecordStore, start: datetime, end: datetime, top: int = 10, *, rollups: bool = True
) -> Stats:
    """The statistics of calls started in [start, end).

    With ``rollups``, every whole UTC day before today in the range is read from its stored
    aggregates (``stats_days``), computed and stored the first time it is asked for once no
    call of that day is still live; today and partial days are always computed fresh."""
    if not rollups:
        return _merge(start, end, [_partial(store, start, end)], top)
    today = datetime.combine(utcnow().date(), datetime.min.time())
    day = datetime.combine(start.date(), datetime.min.time())
    if day < start:
        day += timedelta(days=1)
    whole: list[datetime] = []
    while day + timedelta(days=1) <= min(end, today):
        whole.append(day)
        day += timedelta(days=1)
    parts: list[dict[str, Any]] = []
    if not whole:
        return _merge(start, end, [_partial(store, start, end)], top)
    if start < whole[0]:
        parts.append(_partial(store, start, whole[0]))
    tail = whole[-1] + timedelta(days=1)
    if tail < end:
        parts.append(_partial(store, tail, end))
    stored = store.rollups([d.date().isoformat() for d in whole])
    for d in whole:
        key = d.date().isoformat()
        if key in stored:
            parts.append(stored[key])
            continue
        part = _partial(store, d, d + timedelta(days=1))
        parts.append(part)
        if not part["live"] and not store.has_live_calls(d, d + timedelta(days=1)):
            store.put_rollup(key, part)
    return _merge(start, end, parts, top)


def warm_rollups(store: RecordStore, days: int) -> int:
    """Compute the stored aggregates of the last ``days`` closed days (housekeeping, so the
    first statistics page over a long range is fast too). Returns the days computed."""
    today = datetime.combine(utcnow().date(), datetime.min.time())
    first = today - timedelta(days=days)
    have = store.rollups([(first + timedelta(days=i)).date().isoformat() for i in range(days)])
    compute_stats(store, first, today)
    return days - len(have)


@dataclass
class Totals:
    """Everything kept, for ``/metrics``: counters over the records in the database."""

    live: int
    outcomes: dict[str, int]
    latency_le: list[tuple[float, int]]
    """(upper bound s, turns with latency <= it), cumulative; the last is +Inf."""
    latency_sum_s: float
    latency_count: int
    stages: dict[str, tuple[float, int]]
    """stage -> (sum s, count)."""


def compute_totals(store: RecordStore) -> Totals:
    c, t = calls.c, turns.c
    outcomes = {o: 0 for o in OUTCOMES}
    live = 0
    with store._read("compute metrics") as conn:
        for status, outcome, n in conn.execute(
            sa.select(c.status, c.outcome, sa.func.count()).group_by(c.status, c.outcome)
        ):
            if status == "live":
                live += n
            else:
                outcomes[outcome or "error"] = outcomes.get(outcome or "error", 0) + n
        buckets: dict[int, int] = {}
        lat_sum = 0.0
        for bucket, n, s in conn.execute(
            sa.select(t.latency_bucket, sa.func.count(), sa.func.sum(t.latency_ms))
            .where(t.latency_bucket.is_not(None))
            .group_by(t.latency_bucket)
        ):
            buckets[int(bucket)] = n
            lat_sum += float(s or 0.0)
        stage_cols: dict[str, Any] = {
            "endpoint": t.endpoint_ms,
            "asr": t.asr_ms,
            "dialog": t.dialog_ms,
            "tts_first": t.tts_first_ms,
        }
        row = conn.execute(
            sa.select(sa.func.count(), *[sa.func.sum(col) for col in stage_cols.values()])
        ).one()
    count = int(row[0])
    stages = {name: (float(row[i + 1] or 0.0) / 1000, count) for i, name in enumerate(stage_cols)}
    le: list[tuple[float, int]] = []
    for bound in PROMETHEUS_LATENCY_LE_S:
        # a bucket counts below the bound when all of it is (upper edge <= bound)
        limit = int(bound * 1000 // LATENCY_BUCKET_MS)
        le.append((bound, sum(n for b, n in buckets.items() if b < limit)))
    total = sum(buckets.values())
    le.append((float("inf"), total))
    return Totals(live, outcomes, le, lat_sum / 1000, total, stages)
