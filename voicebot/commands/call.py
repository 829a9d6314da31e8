"""``voicebot call CALLER``: one simulated call from recorded caller audio."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

HELP = "simulate a call from a caller WAV or case script; writes the bot's WAV and a turn log"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("caller", type=Path, help="a WAV file, or a caller case (.yml)")
    parser.add_argument("--out", type=Path, default=Path("reports/calls"), help="output folder")
    parser.add_argument("--now", help="freeze the dialog clock (ISO time), e.g. for opening hours")


def run(args: argparse.Namespace) -> int:
    from voicebot.paths import project_root
    from voicebot.replay.cases import load_case
    from voicebot.replay.harness import simulated_pipeline, suite_now
    from voicebot.replay.runner import run_case, transcript_text

    logging.basicConfig(level=logging.WARNING)
    case = load_case(args.caller)
    out = args.out if args.out.is_absolute() else project_root() / args.out
    with simulated_pipeline(args.now or suite_now(args.caller)) as pipeline:
        result, _line, call = asyncio.run(run_case(pipeline, case, out))
    print(transcript_text(call))
    print(f"bot audio: {result.bot_wav}")
    print(f"turn log:  {out / (case.name + '.turns.jsonl')}")
    for failure in result.failures:
        print(f"FAILED: {failure}")
    return 0 if result.passed else 1
