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
    parser.add_argument(
        "--baseline",
        type=Path,
        help="accepted results (default: FOLDER/_baseline.json); failing only counts as a"
        " regression for cases that passed there or are new",
    )
    parser.add_argument(
        "--update-baseline", action="store_true", help="accept this run as the new baseline"
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from voicebot.paths import project_root
    from voicebot.replay import baseline, report
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
    folder = args.folder if args.folder.is_dir() else args.folder.parent
    base_path = args.baseline or folder / "_baseline.json"
    if args.update_baseline:
        baseline.save(base_path, results)
        print(f"baseline updated: {base_path}")
    verdict = baseline.compare(results, baseline.load(base_path))
    print(f"{info['passed']}/{info['cases']} cases passed; report: {out / 'report.html'}")
    if verdict.known_failures:
        print(f"known failures (failing in the baseline too): {', '.join(verdict.known_failures)}")
    if verdict.fixed:
        print(f"fixed since the baseline: {', '.join(verdict.fixed)}")
    if verdict.regressions:
        print(f"REGRESSIONS: {', '.join(verdict.regressions)}")
        return 1
    return 0
