"""bench/voice_load.py's numbers: one level's row from what its calls left, the summary over
levels, and the JSON report (no processes, no I/O: every function here is pure, so
tests/test_bench_probes.py checks them on inputs made by hand and on the saved results).

A level's raw data: the callers' results (answered, refused by admission control, wire
latencies), the workers' log lines of the level (``turn N: intent=... latency_ms=...`` and
``ended: OUTCOME ... (N turns)``), the process sampler's CPU/RSS/PSS, the services' running
means before and after (``voicebot status --json``), bench/schedstat.py's per-role CPU and
bench/rtp_probe.py's media statistics. Times are ms unless a key says ``_s``.
"""

from __future__ import annotations

import re

import numpy as np

TURN = re.compile(
    r"turn \d+: intent=(\S+) .*latency_ms=([\d.]+|None) \(endpoint ([\d.]+), asr ([\d.]+), "
    r"dialog ([\d.]+), tts ([\d.]+)\)"
)
"""A worker's log line for one turn: intent, latency and its four stages (ms)."""
ENDED = re.compile(r"ended: (\S+).*\((\d+) turns\)")
"""A worker's log line for one ended call: outcome and turns taken."""
TARGETS = {"failed_calls": 0, "latency_ms_p95": 1500.0, "latency_ms_p50": 600.0}
"""Issue 11's targets per level (and rss_mb_total_peak <= RSS_TARGET_MB)."""
RSS_TARGET_MB = 3000.0
"""Issue 11's memory target: every process of the service together."""


def level_row(
    n: int,
    results: list[dict],
    lines: list[str],
    usage: dict[str, object],
    before: dict,
    after: dict,
    schedstat: dict,
    media: dict | None,
    dialog_loop: dict | None,
    wall_s: float,
    loadavg_1m_end: float,
) -> dict:
    """One level's row of the report, from its raw data: ``results`` (one per caller:
    ``answered``, ``refused``, ``wire_ms``), the workers' log ``lines`` of the level,
    ``usage`` (the process sampler's summary), the services' means ``before`` and ``after``,
    ``schedstat``, ``media`` and ``dialog_loop`` (or None), the level's wall time (s) and the
    1-minute load average at its end."""
    turns = [m for line in lines if (m := TURN.search(line))]
    ended = [m for line in lines if (m := ENDED.search(line))]
    completed = sum(1 for m in ended if int(m.group(2)) >= 3)  # three turns taken and ended
    resolved = sum(1 for m in ended if m.group(1) == "resolved" and int(m.group(2)) >= 3)
    lat = [float(m.group(2)) for m in turns if m.group(2) != "None"]
    wire = [ms for r in results for ms in r["wire_ms"]]
    admitted = sum(r["answered"] for r in results)
    refused = sum(r["refused"] for r in results)
    row = {
        "calls": n,
        "admitted": admitted,
        "refused": refused,
        "failed_admitted_calls": admitted - min(admitted, completed),
        "failed_calls": n - refused - min(n - refused, completed),
        "unresolved_calls": n - refused - min(n - refused, resolved),
        "not_answered": sum(not r["answered"] for r in results),
        "turns": len(lat),
        "latency_ms_p50": pct(lat, 50),
        "latency_ms_p95": pct(lat, 95),
        "latency_ms_max": round(max(lat), 1) if lat else None,
        "stage_mean_ms": {
            name: round(float(np.mean([float(m.group(i)) for m in turns])), 1)
            for i, name in ((3, "endpoint"), (4, "asr"), (5, "dialog"), (6, "tts"))
        }
        if turns
        else {},
        "wire_latency_ms": {"turns": len(wire), "p50": pct(wire, 50), "max": pct(wire, 100)}
        if n == 1
        else None,
        "intents": sorted({m.group(1) for m in turns}),
        "outcomes": sorted(m.group(1) for m in ended),
        "services_before": before,
        "services_after": after,
        "wall_s": round(wall_s, 1),
        **usage,
        "loadavg_1m_end": round(loadavg_1m_end, 2),
        "service_ms": service_delta(before, after),
        "sched": schedstat,
        "media": media,
        "dialog_loop": dialog_loop,
    }
    row["service_per_request_ms"] = per_request(schedstat, row["service_ms"])
    row["meets_targets"] = meets_targets(row)
    return row


def service_delta(before: dict, after: dict) -> dict[str, dict[str, float]]:
    """Per service operation, the requests of this level only: count and mean queue/run
    times (ms), from the running means before and after the level."""
    out: dict[str, dict[str, float]] = {}
    for service, ops in after.items():
        for op, a in (ops or {}).items():
            b = (before.get(service) or {}).get(op) or {}
            n = a.get("count", 0) - b.get("count", 0)
            if n <= 0:
                continue

            def mean(key: str, a: dict = a, b: dict = b, n: int = n) -> float:
                total = a.get(key, 0.0) * a.get("count", 0) - b.get(key, 0.0) * b.get("count", 0)
                return round(total / n, 1)

            out[f"{service}.{op}"] = {
                "count": n,
                "queue_ms_mean": mean("queue_ms_mean"),
                "run_ms_mean": mean("run_ms_mean"),
            }
    return out


def meets_targets(row: dict) -> bool:
    """Issue 11's targets: no failed call, p95 and p50 within bounds, memory within 3 GB."""
    return (
        row["failed_calls"] <= TARGETS["failed_calls"]
        and row["latency_ms_p95"] is not None
        and row["latency_ms_p95"] <= TARGETS["latency_ms_p95"]
        and row["latency_ms_p50"] is not None
        and row["latency_ms_p50"] <= TARGETS["latency_ms_p50"]
        and row.get("rss_mb_total_peak", 0.0) <= RSS_TARGET_MB
    )


def summary(rows: list[dict]) -> dict[str, object]:
    """The largest level that meets the targets, and what limits the next one: the stage
    whose mean grew most over the smallest level, and the service queue at that level."""
    ok = [r["calls"] for r in rows if r["meets_targets"]]
    largest = max(ok) if ok else None
    nxt = next((r for r in rows if largest is None or r["calls"] > largest), None)
    if nxt is None:
        return {"largest_level_meeting_targets": largest, "next_level": None}
    means = nxt.get("stage_mean_ms") or {}
    # against the smallest level; when that is the level that misses, the largest stage
    base = (rows[0].get("stage_mean_ms") or {}) if nxt is not rows[0] else {}
    growth = {k: round(v - base.get(k, 0.0), 1) for k, v in means.items()}
    queues = {k: v["queue_ms_mean"] for k, v in (nxt.get("service_ms") or {}).items()}
    missed = [
        name
        for name, bad in (
            ("failed_calls", nxt["failed_calls"] > TARGETS["failed_calls"]),
            ("latency_ms_p95", (nxt["latency_ms_p95"] or 1e9) > TARGETS["latency_ms_p95"]),
            ("latency_ms_p50", (nxt["latency_ms_p50"] or 1e9) > TARGETS["latency_ms_p50"]),
            ("rss_mb_total_peak", nxt.get("rss_mb_total_peak", 0.0) > RSS_TARGET_MB),
        )
        if bad
    ]
    return {
        "largest_level_meeting_targets": largest,
        "next_level": nxt["calls"],
        "next_level_misses": missed,
        "next_level_stage_mean_ms": means,
        "next_level_stage_growth_ms": growth if base else None,
        "next_level_queueing_stage": max(growth, key=lambda k: growth[k]) if growth else None,
        "next_level_service_queue_ms": queues,
        "next_level_cpu_pct_mean": nxt.get("cpu_pct_mean"),
    }


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def per_request(sched: dict, services: dict[str, dict[str, float]]) -> dict[str, object]:
    """Per request of the speech and dialog services: the wall time the service took (run)
    against its process's CPU and run-queue wait (all threads), ms. Run much longer than
    CPU + wait means the request waited on something else (another request on the same
    event loop, a lock, the action server)."""
    out: dict[str, object] = {}
    roles = sched.get("per_role") or {}
    for service in ("speech", "dialog"):
        ops = {k: v for k, v in services.items() if k.startswith(service + ".")}
        count = sum(v["count"] for v in ops.values())
        role = roles.get(service)
        if not count or not role:
            continue
        out[service] = {
            "requests": count,
            "run_ms_mean": round(
                sum(v["run_ms_mean"] * v["count"] for v in ops.values()) / count, 1
            ),
            "cpu_ms": round(1000 * role["cpu_s"] / count, 1),
            "runq_wait_ms": round(1000 * role["runq_wait_s"] / count, 1),
        }
    return out


def report(
    *,
    mode: str,
    settings: str,
    malloc_arena_max: str,
    workers: int,
    max_calls: int,
    caller_nice: int,
    worker_nice: int,
    service_nice: dict[str, int],
    start_to_answering_s: float,
    cpus: int | None,
    loadavg_1m_at_start: float,
    rows: list[dict],
    callers: str = "pjsua2",
) -> dict[str, object]:
    """The whole run's JSON (``bench/results/voice_load.json``): how it ran, the targets,
    :func:`summary` and the levels' rows."""
    return {
        "what": "simultaneous three-turn calls (hours, outage at a spelled postcode, goodbye) "
        "from espeak-ng/flite recordings through voicebot serve, real SIP on 127.0.0.1",
        "mode": mode,
        "settings": settings,
        "malloc_arena_max": malloc_arena_max,
        "workers": workers,
        "max_calls": max_calls,
        "caller_nice": caller_nice,
        "callers": (
            "one pjsua2 process per call (tests/sip/caller.py)"
            if callers == "pjsua2"
            else "SIPp (bench/voice_load_sipp.py: one sipp process per recording variant, the "
            "same recordings and start offsets; the single-call level with a pjsua2 caller, "
            "whose recording gives the wire latency)"
        )
        + f", real SIP and RTP, run at nice {caller_nice}: on a real line the callers are "
        "elsewhere",
        "caller_kind": callers,
        "worker_nice": worker_nice,
        "service_nice": service_nice,
        "start_to_answering_s": round(start_to_answering_s, 1),
        "cpus": cpus,
        "loadavg_1m_at_start": loadavg_1m_at_start,
        "targets": {**TARGETS, "rss_mb_total_peak": RSS_TARGET_MB},
        "summary": summary(rows) if rows else {},
        "levels": rows,
    }
