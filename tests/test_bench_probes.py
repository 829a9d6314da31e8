"""The load bench's probes (bench/schedstat.py, bench/rtp_probe.py, bench/dialog_profile.py):
per-role CPU of a real busy process from the kernel's schedstat, and the RTP statistics and
stack categories on packets and stacks built here (their inputs are made by hand so every
expected number is known)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from dialog_profile import category  # noqa: E402
from rtp_probe import Stream, summarize  # noqa: E402
from schedstat import SchedSampler  # noqa: E402

SOUND = bytes([0x10, 0x90] * 80)
"""A 20 ms PCMU frame of loud sound."""
SILENCE = b"\xff" * 160


def test_schedstat_counts_a_busy_process_in_its_role() -> None:
    burn = "import time\nwhile time.process_time() < 0.8: pass\n"  # 0.8 s of CPU, however slow
    proc = subprocess.Popen([sys.executable, "-c", burn, "voicebot.services.dialog"])
    try:
        sampler = SchedSampler([proc.pid], every_s=0.2)
        sampler.start()
        proc.wait(60)
        time.sleep(0.3)
        report = sampler.stop()
    finally:
        proc.kill()
        proc.wait()
    dialog = report["per_role"]["dialog"]  # type: ignore[index]
    assert 0.6 < dialog["cpu_s"] < 1.5, dialog
    assert dialog["runq_wait_s"] >= 0 and dialog["slices"] > 0
    assert dialog["busiest_thread"]["cpu_s"] > 0.6


def feed(stream: Stream, frames: list[tuple[float, int, bytes]]) -> None:
    for t_ms, ts, payload in frames:
        stream.add(t_ms / 1000, ts, 0, payload)


def test_rtp_stream_on_time_late_and_silence_suppressed() -> None:
    on_time = Stream()
    feed(on_time, [(20 * i, 160 * i, SOUND) for i in range(50)])
    late = Stream()  # packet 10 is 70 ms late, then the sender catches up
    feed(late, [(20 * i + (70 if i == 10 else 0), 160 * i, SOUND) for i in range(50)])
    dtx = Stream()  # a 2 s pause with no packets: the timestamps jump as well
    feed(dtx, [(20 * i + (2000 if i >= 25 else 0), 160 * i + (16000 if i >= 25 else 0), SOUND)
               for i in range(50)])  # fmt: skip
    assert summarize({1: on_time}, underruns=True)["late_20ms"] == 0
    report = summarize({1: late}, underruns=True)
    assert report["late_20ms"] == 1 and report["late_100ms"] == 0
    assert report["gap_ms_max"] == 90.0
    assert summarize({1: dtx}, underruns=False)["late_20ms"] == 0
    assert summarize({1: on_time, 2: late}, underruns=True)["streams"] == 2


def test_rtp_underruns_are_short_silences_inside_sound() -> None:
    frames = [SOUND] * 5 + [SILENCE] * 2 + [SOUND] * 5 + [SILENCE] * 20 + [SOUND] * 3
    frames += [SILENCE] * 5 + [SOUND] + [SILENCE] * 3  # (the trailing silence is no underrun)
    stream = Stream()
    feed(stream, [(20 * i, 160 * i, f) for i, f in enumerate(frames)])
    report = summarize({1: stream}, underruns=True)
    assert report["underrun_runs"] == 2 and report["underrun_frames"] == 7


def test_dialog_stack_categories() -> None:
    loop = "MainThread;run (asyncio/runners.py:190);_run_once (asyncio/base_events.py:1922)"
    assert category(f"{loop};EpollSelector.select (selectors.py:468)".split(";")) == "idle"
    uvloop = "MainThread;run (asyncio/runners.py:190);Runner.run (asyncio/runners.py:118)"
    assert category(uvloop.split(";")) == "idle"
    sql = (
        f"{loop};SQLTrackerStore.retrieve (rasa/core/tracker_store.py:1200);"
        "execute (sqlalchemy/engine/base.py:1)"
    )
    assert category(sql.split(";")) == "tracker_store"
    predict = (
        f"{loop};predict_next_action (rasa/core/processor.py:1);"
        "TEDPolicy.predict (rasa/core/policies/ted_policy.py:1);__call__ (tensorflow/python/x.py:1)"
    )
    assert category(predict.split(";")) == "policies"
    assert category(f"{loop};handle (voicebot/dialog/bridge.py:1)".split(";")) == "other"
