"""bench/voice_load.py's numbers (bench/voice_load_levels.py): one level's row from raw data
made by hand (every expected number is known), and the summary and per-service means
recomputed from the saved results in bench/results/ equal what those runs wrote."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from voice_load_levels import level_row, meets_targets, report, service_delta, summary  # noqa: E402

LINES = [
    "worker-0: c1: turn 1: intent=ask_hours conf=0.93 latency_ms=400.0 "
    "(endpoint 200.0, asr 100.0, dialog 60.0, tts 40.0)",
    "worker-0: c1: turn 2: intent=report_outage conf=0.88 latency_ms=800.0 "
    "(endpoint 300.0, asr 300.0, dialog 100.0, tts 100.0)",
    "worker-0: c1: turn 3: intent=goodbye conf=0.99 latency_ms=None "
    "(endpoint 100.0, asr 200.0, dialog 20.0, tts 0.0)",
    "worker-0: call c1 ended: resolved after 41 s (3 turns)",
    "worker-1: c2: turn 1: intent=ask_hours conf=0.9 latency_ms=1200.0 "
    "(endpoint 200.0, asr 800.0, dialog 100.0, tts 100.0)",
    "worker-1: call c2 ended: unresolved after 20 s (1 turns)",
    "worker-1: something else entirely",
]
RESULTS = [
    {"index": 0, "answered": True, "refused": False, "wire_ms": []},
    {"index": 1, "answered": True, "refused": False, "wire_ms": []},
    {"index": 2, "answered": False, "refused": True, "wire_ms": []},
]
BEFORE = {"dialog": {"turn": {"count": 10, "queue_ms_mean": 2.0, "run_ms_mean": 50.0}}}
AFTER = {"dialog": {"turn": {"count": 14, "queue_ms_mean": 4.0, "run_ms_mean": 65.0}}}
SCHED = {"per_role": {"dialog": {"cpu_s": 0.2, "runq_wait_s": 0.1}}}
USAGE = {"rss_mb_total_peak": 2900.0, "cpu_pct_total_mean": 120.0}


def test_a_level_row_from_hand_made_raw_data() -> None:
    row = level_row(3, RESULTS, LINES, USAGE, BEFORE, AFTER, SCHED, None, None, 61.27, 2.456)
    assert (row["calls"], row["admitted"], row["refused"], row["not_answered"]) == (3, 2, 1, 1)
    # c2 ended after 1 turn: failed; c1 completed and resolved
    assert (row["failed_calls"], row["failed_admitted_calls"], row["unresolved_calls"]) == (1, 1, 1)
    assert row["turns"] == 3  # the turn with latency None is not a latency sample
    assert (row["latency_ms_p50"], row["latency_ms_max"]) == (800.0, 1200.0)
    assert row["latency_ms_p95"] == pytest.approx(1160.0)
    assert row["stage_mean_ms"] == {"endpoint": 200.0, "asr": 350.0, "dialog": 70.0, "tts": 60.0}
    assert row["intents"] == ["ask_hours", "goodbye", "report_outage"]
    assert row["outcomes"] == ["resolved", "unresolved"]
    assert row["wire_latency_ms"] is None  # (only the single-call level records the wire)
    # 4 requests of this level: (14*4 - 10*2)/4 = 9 ms queue, (14*65 - 10*50)/4 = 102.5 ms run
    assert row["service_ms"] == {
        "dialog.turn": {"count": 4, "queue_ms_mean": 9.0, "run_ms_mean": 102.5}
    }
    assert row["service_per_request_ms"]["dialog"] == {
        "requests": 4, "run_ms_mean": 102.5, "cpu_ms": 50.0, "runq_wait_ms": 25.0
    }  # fmt: skip
    assert (row["wall_s"], row["loadavg_1m_end"], row["rss_mb_total_peak"]) == (61.3, 2.46, 2900.0)
    assert row["meets_targets"] is False  # a failed call and p50 800 ms > 600
    one = level_row(1, [{**RESULTS[0], "wire_ms": [300.0, 500.0]}], LINES[:4], {}, {}, {}, {},
                    None, None, 1.0, 0.0)  # fmt: skip
    assert one["wire_latency_ms"] == {"turns": 2, "p50": 400.0, "max": 500.0}
    assert one["failed_calls"] == 0 and one["unresolved_calls"] == 0


REPORT_ARGS = dict(
    mode="shared", settings="", malloc_arena_max="2", workers=1, max_calls=0, caller_nice=0,
    worker_nice=0, service_nice={"speech": -10, "dialog": -10}, start_to_answering_s=30.04,
    cpus=2, loadavg_1m_at_start=1.0,
)  # fmt: skip


def test_the_report_keeps_its_keys_in_order() -> None:
    rows = [level_row(1, RESULTS[:1], LINES[:4], {}, {}, {}, {}, None, None, 1.0, 0.0)]
    out = report(mode="shared", settings="", malloc_arena_max="2", workers=1, max_calls=0,
                 caller_nice=0, worker_nice=0, service_nice={"speech": -10, "dialog": -10},
                 start_to_answering_s=30.04, cpus=2,
                 loadavg_1m_at_start=1.0, rows=rows)  # fmt: skip
    assert list(out) == [
        "what", "mode", "settings", "malloc_arena_max", "workers", "max_calls", "caller_nice",
        "callers", "caller_kind", "worker_nice", "service_nice", "start_to_answering_s", "cpus",
        "loadavg_1m_at_start", "targets", "summary", "levels",
    ]  # fmt: skip
    assert out["start_to_answering_s"] == 30.0 and out["levels"] == rows
    assert out["caller_kind"] == "pjsua2" and "pjsua2 process per call" in str(out["callers"])
    sipp = report(**{**REPORT_ARGS, "rows": rows, "callers": "sipp"})  # type: ignore[arg-type]
    assert sipp["caller_kind"] == "sipp" and "SIPp" in str(sipp["callers"])
    assert out["summary"]["largest_level_meeting_targets"] == 1  # type: ignore[index]


@pytest.mark.parametrize(
    "name",
    [
        "voice_load.json",
        "voice_load_admission.json",
        "voice_load_admission_control.json",
        "voice_load_1call_loaded.json",
        "voice_load_whisper_workers2.json",
    ],
)
def test_saved_results_are_reproduced(name: str) -> None:
    """Reporting data: the runs' own saved JSON (nothing here is tuned on it)."""
    saved = json.loads((BENCH / "results" / name).read_text())
    levels = saved["levels"]
    assert summary(levels) == saved["summary"]
    for row in levels:
        assert meets_targets(row) == row["meets_targets"]
        assert service_delta(row["services_before"], row["services_after"]) == row["service_ms"]
