"""``voicebot replay FOLDER``: the QA suite of recorded callers, with a report."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
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
        "--update-baseline",
        action="store_true",
        help="accept this run as the new baseline (a full run only: not with -k)",
    )
    parser.add_argument(
        "--why",
        action="append",
        default=[],
        metavar="CASE=REASON",
        help="with --update-baseline: why CASE fails (needed for every newly failing case)",
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from voicebot.paths import project_root
    from voicebot.replay import baseline, report
    from voicebot.replay.cases import find_cases, load_case
    from voicebot.replay.harness import simulated_pipeline, suite_now
    from voicebot.replay.runner import CaseResult, run_case

    logging.basicConfig(level=logging.WARNING)
    if args.update_baseline and (args.select or not args.folder.is_dir()):
        print(
            "error: --update-baseline needs a full run of a folder; -k (or one case file) "
            "replays only some cases and would drop the others from the baseline",
            file=sys.stderr,
        )
        return 2
    why: dict[str, str] = {}
    for item in args.why:
        name, sep, reason = item.partition("=")
        if not sep or not name.strip() or not reason.strip():
            print(f"error: --why takes CASE=REASON, got {item!r}", file=sys.stderr)
            return 2
        why[name.strip()] = reason.strip()
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
        old = baseline.load(base_path)
        unexplained = baseline.missing_reasons(results, old, why)
        if unexplained:
            print(
                "error: baseline not updated: say why each new known failure fails, e.g. "
                + " ".join(f"--why '{name}=...'" for name in unexplained),
                file=sys.stderr,
            )
            return 2
        baseline.save(base_path, results, why, old)
        print(f"baseline updated: {base_path}")
    accepted = baseline.load(base_path)
    verdict = baseline.compare(results, accepted)
    print(f"{info['passed']}/{info['cases']} cases passed; report: {out / 'report.html'}")
    for name in verdict.known_failures:
        print(f"known failure {name}: {accepted[name].why or '(no reason written)'}")
    if verdict.fixed:
        print(f"fixed since the baseline: {', '.join(verdict.fixed)}")
    for name, (then, now) in verdict.changed.items():
        print(
            f"KNOWN FAILURE FAILS DIFFERENTLY: {name}: was {'; '.join(then)}; now {'; '.join(now)}"
        )
    if verdict.regressions:
        print(f"REGRESSIONS: {', '.join(verdict.regressions)}")
    return 0 if verdict.ok else 1
