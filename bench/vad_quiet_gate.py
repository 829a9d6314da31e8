#!/usr/bin/env python3
"""Silero's quiet gate (voicebot.audio.scorers.QUIET_DBFS) on the project's VAD evaluation:
the same segments, missed, split and false starts with the gate off and on, the share of
frames the gate scored without the model, and the scorer's CPU time.

Data: the shared evaluation set (``../shared/eval/audio``, voicebot.audio.vad_eval: fsdd
digits, Asterisk IVR prompts, Speech Commands words and noise clips, six noise conditions,
µ-law line). The gate's level (-60 dBFS, the ASR's ``min_rms_dbfs``) and run length
(256 ms) were chosen before this run, not tuned on it: this set is reporting data.

Usage::

    .venv/bin/python bench/vad_quiet_gate.py [--digits 150 --prompts 60]

Writes ``bench/results/vad_quiet_gate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.audio import scorers, vad, vad_eval  # noqa: E402
from voicebot.audio.vad import VadConfig  # noqa: E402


def run(args: argparse.Namespace, gate: bool) -> dict[str, object]:
    """vad_eval's Silero rows with the gate on or off, frames it skipped, the scorer's CPU s."""
    counts = {"skipped": 0, "frames": 0}
    cpu = [0.0]
    cls = scorers.SileroScorer
    original_reset, original_score = cls.reset, cls.score

    def reset(self: scorers.SileroScorer) -> None:
        counts["skipped"] += getattr(self, "skipped", 0)
        original_reset(self)

    def score(self: scorers.SileroScorer, frame: scorers.Int16Array) -> float:
        counts["frames"] += 1
        t0 = time.process_time()
        try:
            return original_score(self, frame)
        finally:
            cpu[0] += time.process_time() - t0

    def factory(rate: int, model: str | None = None) -> scorers.SileroScorer:
        return cls(rate, model, quiet_dbfs=scorers.QUIET_DBFS if gate else None)

    cls.reset, cls.score = reset, score  # type: ignore[method-assign]
    vad.SileroScorer = factory  # type: ignore[assignment,misc]
    try:
        utterances = vad_eval.load_utterances(args.eval_dir, args.digits, args.prompts)
        babble_src = vad_eval.load_utterances(args.eval_dir, 60, 0, seed=77)
        makers = vad_eval.noise_makers(args.eval_dir, [u for u in babble_src if u.kind == "digit"])
        clips = vad_eval.load_noise_clips(args.eval_dir)
        results = vad_eval.evaluate(utterances, clips, makers, VadConfig(), scorers=("silero",))
    finally:
        cls.reset, cls.score = original_reset, original_score  # type: ignore[method-assign]
        vad.SileroScorer = cls  # type: ignore[misc]
    return {
        "rows": [r.row() for r in results],
        "scorer_cpu_s": round(cpu[0], 2),
        "frames": counts["frames"],
        "frames_skipped": counts["skipped"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval-dir", type=Path, default=vad_eval.default_eval_dir())
    ap.add_argument("--digits", type=int, default=150)
    ap.add_argument("--prompts", type=int, default=60)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "vad_quiet_gate.json")
    args = ap.parse_args()
    off = run(args, gate=False)
    on = run(args, gate=True)
    changed = [{"off": a, "on": b} for a, b in zip(off["rows"], on["rows"], strict=True) if a != b]
    out = {
        "what": __doc__.splitlines()[0],
        "data": "shared eval set (reporting data; the gate was not tuned on it)",
        "quiet_dbfs": scorers.QUIET_DBFS,
        "quiet_run_frames": scorers.QUIET_RUN_FRAMES,
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "gate_off": off,
        "gate_on": on,
        "rows_changed": changed,
    }
    print(vad_eval.format_table(on["rows"]))  # type: ignore[arg-type]
    print(
        f"rows changed by the gate: {len(changed)}; skipped {on['frames_skipped']} of "
        f"{on['frames']} frames"
    )
    print(f"scorer CPU: {off['scorer_cpu_s']} s without the gate, {on['scorer_cpu_s']} s with it")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
