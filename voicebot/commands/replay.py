"""``voicebot replay FOLDER``: the QA suite of recorded callers, with a report."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

HELP = "replay recorded caller cases through the pipeline; non-zero exit on any regression"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, nargs="?", default=Path("tests/audio"))
    parser.add_argument("--out", type=Path, default=Path("reports/replay"), help="report folder")
    parser.add_argument("--now", help="freeze the dialog clock (default: the suite's _suite.yml)")
    parser.add_argument("-k", dest="select", help="only cases whose name contains this")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from voicebot.paths import project_root
    from voicebot.replay import report
    from voicebot.replay.cases import find_cases, load_case
    from voicebot.replay.harness import simulated_pipeline, suite_now
    from voicebot.replay.runner import CaseResult, run_case

    logging.basicConfig(level=logging.WARNING)
    paths = [p for p in find_cases(args.folder) if not args.select or args.select in p.stem]
    if not paths:
        print(f"no cases in {args.folder}")
        return 2
    cases = [load_case(p) for p in paths]  # bad case files fail here, before models load
    out = args.out if args.out.is_absolute() else project_root() / args.out
    results: list[CaseResult] = []
    with simulated_pipeline(args.now or suite_now(args.folder)) as pipeline:

        async def replay_all() -> None:
            for case in (bar := tqdm(cases, unit="case")):
                bar.set_postfix_str(case.name)
                result, _, _ = await run_case(pipeline, case, out / "calls")
                results.append(result)

        asyncio.run(replay_all())
    info = report.write(results, out)
    print(report.table(results))
    lat = info["latency_ms"]
    if lat["p50"] is not None:
        print(f"latency p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms")
    print(f"{info['passed']}/{info['cases']} cases passed; report: {out / 'report.html'}")
    return 0 if info["passed"] == info["cases"] else 1
