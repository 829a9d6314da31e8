"""``voicebot test-dialogs``: test stories + held-out NLU evaluation, with a report."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

HELP = "run the dialog test stories and an NLU evaluation; writes a report with a confusion matrix"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="reports/dialogs", help="report folder")
    parser.add_argument(
        "--min-intent-accuracy",
        type=float,
        default=0.85,
        help="exit non-zero below this held-out intent accuracy (0..1)",
    )


def run(args: argparse.Namespace) -> int:
    from voicebot.dialog.evaluation import evaluate
    from voicebot.dialog.model import load_agent
    from voicebot.dialog.training import train
    from voicebot.paths import dialogs_dir, project_root

    logging.basicConfig(level=logging.WARNING)
    model, _ = train()
    agent = load_agent(model, None)  # stories replay recorded action results; no server needed
    out = Path(args.out)
    out = out if out.is_absolute() else project_root() / out
    report = asyncio.run(evaluate(agent, dialogs_dir() / "tests", out))
    print(report.markdown())
    print(f"report: {out / 'summary.md'}")
    if not report.ok:
        print("FAILED: some test stories failed")
        return 1
    if report.nlu_examples and report.intent_accuracy < args.min_intent_accuracy:
        print(f"FAILED: intent accuracy {report.intent_accuracy:.3f} < {args.min_intent_accuracy}")
        return 1
    return 0
