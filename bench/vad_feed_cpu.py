#!/usr/bin/env python3
"""CPU per 20 ms frame of the worker's VAD feed (SpeechDetector + Silero), old vs new code.

Feeds a call-like stream (5 s silence, a tests/audio recording, 5 s silence, three times)
frame by frame as the SIP line gives it, through the SpeechDetector of a given git commit
(default 6e50387, before the CPU work) and of this checkout, with and without the opt-in
Silero quiet gate; interleaved repeats, the minimum is reported (process CPU time, so other
load on the machine inflates every figure alike). Also checks the segment events match.

Usage: ``.venv/bin/python bench/vad_feed_cpu.py [--old-commit 6e50387]``; writes
``bench/results/vad_feed_cpu.json``.
"""

from __future__ import annotations

import argparse
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
    out = {
        "what": __doc__.splitlines()[0],
        "old_commit": args.old_commit,
        "frames": len(frames),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "us_per_frame": us,
        "us_per_frame_min": {k: min(v) for k, v in us.items()},
        "events_same_old_new": events["old"] == events["new"],
        "events_same_old_gate": events["old"] == events["new_quiet_gate"],
    }
    print(json.dumps(out, indent=2))
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
