#!/usr/bin/env python3
"""CPU per 20 ms frame of the worker's VAD feed (SpeechDetector + Silero), old vs new code.

Feeds a call-like stream (5 s silence, a tests/audio recording, 5 s silence, three times)
frame by frame as the SIP line gives it, through the SpeechDetector of a given git commit
(default 6e50387, before the CPU work) and of this checkout, with and without the opt-in
Silero quiet gate; interleaved repeats, the minimum is reported (process CPU time, so other
load on the machine inflates every figure alike). Also checks the segment events match.

Also: ``batched_4_calls``, four calls fed together on one event loop (``feed_async``, the
worker's path: their Silero frames batched into one model run) against the same four fed
one after the other, with the events of each call compared; and the model's time per run
for batches of 1, 2, 4 and 8 frames.

Usage: ``.venv/bin/python bench/vad_feed_cpu.py [--old-commit 6e50387]``; writes
``bench/results/vad_feed_cpu.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from voicebot.audio import vad  # noqa: E402
from voicebot.audio.scorers import QUIET_DBFS, SileroScorer  # noqa: E402


def old_module(commit: str) -> ModuleType:
    src = subprocess.run(
        ["git", "show", f"{commit}:voicebot/audio/vad.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "old_vad.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("old_vad", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_vad"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run(mod: Any, frames: list[np.ndarray], gate: float | None) -> tuple[float, list[Any]]:
    det = mod.SpeechDetector(mod.VadConfig(), 8000, scorer=SileroScorer(8000, quiet_dbfs=gate))
    events: list[Any] = []
    t0 = time.process_time()
    for f in frames:
        events += [e for e in det.feed(f) if type(e).__name__ != "SpeechChunk"]
    return (time.process_time() - t0) / len(frames) * 1e6, events


def run_batched(frames: list[np.ndarray], calls: int) -> tuple[float, list[list[Any]], float]:
    """``calls`` calls (the same stream, each shifted by a few frames) fed together on one
    loop: (us per frame, each call's events, mean batch size)."""
    from voicebot.audio.silero_batch import batcher_for

    streams = [frames[3 * i :] + frames[: 3 * i] for i in range(calls)]
    dets = [vad.SpeechDetector(vad.VadConfig(), 8000, scorer=SileroScorer(8000)) for _ in streams]
    events: list[list[Any]] = [[] for _ in streams]

    clock = [0]  # media clock ticks so far (one 20 ms frame per call each)

    async def call(i: int) -> None:
        for f in streams[i]:
            outs = await dets[i].feed_async(f)
            events[i] += [e for e in outs if type(e).__name__ != "SpeechChunk"]
            tick = clock[0]
            while clock[0] == tick:  # the next tick, as the line gives frames
                await asyncio.sleep(0)

    async def worker() -> None:
        tasks = [asyncio.create_task(call(i)) for i in range(len(streams))]
        while not all(t.done() for t in tasks):
            clock[0] += 1
            for _ in range(12):
                await asyncio.sleep(0)

    batcher = batcher_for(dets[0].scorer._session)  # type: ignore[union-attr]
    runs, scored = batcher.runs, batcher.frames
    t0 = time.process_time()
    asyncio.run(worker())
    us = (time.process_time() - t0) / (len(frames) * calls) * 1e6
    return us, events, (batcher.frames - scored) / max(1, batcher.runs - runs)


def run_sequential(frames: list[np.ndarray], calls: int) -> tuple[float, list[list[Any]]]:
    streams = [frames[3 * i :] + frames[: 3 * i] for i in range(calls)]
    t0 = time.process_time()
    events = [run(vad, s, None)[1] for s in streams]
    return (time.process_time() - t0) / (len(frames) * calls) * 1e6, events


def model_run_us(batches: tuple[int, ...] = (1, 2, 4, 8), n: int = 1000) -> dict[str, float]:
    session = SileroScorer(8000)._session
    sr = np.array(8000, dtype=np.int64)
    out = {}
    for b in batches:
        feed = {"input": np.zeros((b, 288), np.float32), "state": np.zeros((2, b, 128), np.float32)}
        t0 = time.process_time()
        for _ in range(n):
            session.run(None, {**feed, "sr": sr})
        out[str(b)] = round((time.process_time() - t0) / n * 1e6, 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-commit", default="6e50387")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "vad_feed_cpu.json")
    args = ap.parse_args()
    speech, _ = sf.read(str(ROOT / "tests/audio/hours_us_male/01.wav"), dtype="int16")
    pause = np.zeros(8000 * 5, np.int16)
    stream = np.concatenate([pause, speech, pause] * 3)
    frames = [stream[i : i + 160].copy() for i in range(0, len(stream) - 160, 160)]
    old = old_module(args.old_commit)
    cases = {"old": (old, None), "new": (vad, None), "new_quiet_gate": (vad, QUIET_DBFS)}
    us: dict[str, list[float]] = {k: [] for k in cases}
    events: dict[str, list[Any]] = {}
    for _ in range(args.repeats):
        for name, (mod, gate) in cases.items():
            t, ev = run(mod, frames, gate)
            us[name].append(round(t, 1))
            events[name] = ev
    seq_us, batch_us, batch_size = [], [], 0.0
    for _ in range(args.repeats):
        t, seq_events = run_sequential(frames, 4)
        seq_us.append(round(t, 1))
        t, batch_events, batch_size = run_batched(frames, 4)
        batch_us.append(round(t, 1))
    out = {
        "what": __doc__.splitlines()[0],
        "old_commit": args.old_commit,
        "frames": len(frames),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "us_per_frame": us,
        "us_per_frame_min": {k: min(v) for k, v in us.items()},
        "events_same_old_new": events["old"] == events["new"],
        "events_same_old_gate": events["old"] == events["new_quiet_gate"],
        "batched_4_calls": {
            "us_per_frame_sequential": seq_us,
            "us_per_frame_batched": batch_us,
            "us_per_frame_min": {"sequential": min(seq_us), "batched": min(batch_us)},
            "mean_batch": round(batch_size, 2),
            "events_same": seq_events == batch_events,
        },
        "model_run_us_by_batch": model_run_us(),
    }
    print(json.dumps(out, indent=2))
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
