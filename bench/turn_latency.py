#!/usr/bin/env python3
"""Turn latency and memory of the voice pipeline over the QA replay suite.

Latency of a turn = end of caller speech to the first bot audio sample: the endpointer's
silence wait + ASR final decode + dialog + synthesis of the first sentence (the stages run
one after another, so the shares add up). Reports p50/p95/max, each stage's mean and
share, and peak RSS of the process (models loaded + calls run), and writes
bench/results/turn_latency.json and a histogram PNG.

Usage: .venv/bin/python bench/turn_latency.py [tests/audio] [--repeat N]
Targets (2 cores, default engines): p50 < 600 ms, p95 < 1000 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from voicebot.replay.cases import find_cases, load_case
from voicebot.replay.harness import simulated_pipeline, suite_now
from voicebot.replay.report import plots, summary
from voicebot.replay.runner import CaseResult, run_case

STAGES = ("endpoint_ms", "asr_ms", "dialog_ms", "tts_first_ms")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", default=Path("tests/audio"))
    parser.add_argument("--repeat", type=int, default=1, help="replay the suite N times")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    cases = [load_case(p) for p in find_cases(args.folder)]
    # a fresh var/ folder: the TTS cache holds only what start-up puts there (the dialog's
    # fixed prompts), as on a new server; other sentences are synthesized when first said
    os.environ["VOICEBOT_VAR"] = tempfile.mkdtemp(prefix="voicebot-bench-")
    started = time.perf_counter()
    with simulated_pipeline(suite_now(args.folder)) as pipeline:
        rss_loaded = rss_mb()
        results: list[CaseResult] = []

        async def go() -> None:
            for _ in range(args.repeat):
                for case in tqdm(cases, unit="case"):
                    results.append((await run_case(pipeline, case, None))[0])

        asyncio.run(go())
    turns = [t for r in results for t in r.turns if t.get("latency_ms") is not None]
    lat = np.array([t["latency_ms"] for t in turns])
    stage = {s: float(np.mean([t[s] for t in turns])) for s in STAGES}
    total = sum(stage.values()) or 1.0
    out = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "cases": len(cases),
        "repeat": args.repeat,
        "turns": len(turns),
        "latency_ms": {
            "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)),
            "max": float(lat.max()),
        },
        "stage_mean_ms": stage,
        "stage_share": {s: v / total for s, v in stage.items()},
        "peak_rss_mb": {"after_load": rss_loaded, "after_calls": rss_mb()},
        "passed_cases": sum(r.passed for r in results),
        "wall_s": time.perf_counter() - started,
        "targets": {"p50_ms": 600, "p95_ms": 1000},
        "by_expect": {
            kind: {
                "turns": len(sel),
                "p50": float(np.percentile(sel, 50)),
                "p95": float(np.percentile(sel, 95)),
            }
            for kind in sorted({str(t.get("expect", "")) for t in turns})
            if (sel := [t["latency_ms"] for t in turns if str(t.get("expect", "")) == kind])
        },
        "slowest": [
            {
                "case": case,
                "turn": t.get("index"),
                "expect": t.get("expect"),
                "heard": t.get("heard"),
            }
            | {s: t[s] for s in ("latency_ms", *STAGES)}
            for case, t in sorted(
                ((r.name, t) for r in results for t in r.turns if t.get("latency_ms") is not None),
                key=lambda ct: -ct[1]["latency_ms"],
            )[:10]
        ],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "turn_latency.json").write_text(json.dumps(out, indent=2))
    images = plots(results, summary(results))
    if "latency" in images:
        import base64

        (args.out / "turn_latency.png").write_bytes(base64.b64decode(images["latency"]))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
