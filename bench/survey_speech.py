#!/usr/bin/env python3
"""Answer accuracy of the survey dialog on spoken answers, one full survey per voice.

Each respondent speaks in an espeak-ng or flite voice (never the bot's Piper voice) and
answers the questions of tests/data/survey_csat.yml with seeded random values phrased in
varied ways ("four", "I'd say a seven", "yes it was", "mostly on the web"); the survey runs
over the simulated line with real Whisper, the trained Rasa model and Piper. A scripted
callee cannot answer a read-back ("I heard seven, is that right?"), so a read-back shifts
its later answers and counts against accuracy (reported apart as ``read_backs``).

Reporting data only: nothing here was used to tune the answer parser (its tuning data are
the strings in tests/test_survey_answers.py). Writes bench/results/survey_speech.json.

Usage: .venv/bin/python bench/survey_speech.py [--voices N] [--seed S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

from voicebot.center.campaigns.spec import load_campaign
from voicebot.center.campaigns.spoken import VOICES, respondent_case
from voicebot.center.campaigns.store import DueContact
from voicebot.center.campaigns.survey_call import run_survey
from voicebot.replay.harness import simulated_pipeline
from voicebot.replay.simline import SimulatedLine

CAMPAIGN = Path("tests/data/survey_csat.yml")
WORDS = "zero one two three four five six seven eight nine ten".split()
NUMBER_PHRASES = ("{n}", "I'd say {n}", "probably a {n}", "um {n}", "{n} I think")
YES = ("yes", "yes it was", "yeah it was sorted")
NO = ("no", "no it wasn't", "not really")
CHOICE = {"phone": "by phone", "web": "mostly on the web", "shop": "in a shop"}
COMMENTS = ("the engineer was very friendly", "it took too long to get through", "nothing else")


def respondent(rng: random.Random) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(what is said per question in order, the answers that should be recorded)."""
    sat, rec = rng.randint(1, 5), rng.randint(0, 10)
    resolved = rng.choice(("yes", "no"))
    channel = rng.choice(list(CHOICE))
    said = [
        ("consent", rng.choice(("yes", "yes go ahead", "sure"))),
        ("satisfaction", rng.choice(NUMBER_PHRASES).format(n=WORDS[sat])),
        ("recommend", rng.choice(NUMBER_PHRASES).format(n=WORDS[rec])),
        ("resolved", rng.choice(YES if resolved == "yes" else NO)),
        ("channel", CHOICE[channel]),
        ("comment", rng.choice(COMMENTS)),
    ]
    expected = {
        "consent": "yes",
        "satisfaction": str(sat),
        "recommend": str(rec),
        "resolved": resolved,
        "channel": channel,
        "comment": "*",
    }
    return said, expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", type=int, default=len(VOICES))
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    spec = load_campaign(CAMPAIGN)
    rng = random.Random(args.seed)
    runs: list[dict[str, Any]] = []
    with simulated_pipeline() as pipeline:

        async def go() -> None:
            for n, voice in enumerate(VOICES[: args.voices], 1):
                said, expected = respondent(rng)
                steps = [("say", text, voice) for _, text in said]
                case = respondent_case(f"survey_{n}", steps, pipeline.rate)
                line = SimulatedLine(case, rate=pipeline.rate)
                contact = DueContact(
                    n, n, f"+4416329601{n:02d}", "Ann", "Europe/London", "en", {}, 1
                )
                started = time.perf_counter()
                end = await run_survey(line, pipeline, spec, contact, lambda q, v: None)
                wall = time.perf_counter() - started
                right = {
                    q: (v == "*" and bool(end.answers.get(q))) or end.answers.get(q) == v
                    for q, v in expected.items()
                }
                bot = [t for _, who, t in end.call.timeline if who == "bot"]
                latencies = [t.latency_ms for t in end.call.turns if t.latency_ms]
                runs.append(
                    {
                        "voice": voice,
                        "said": dict(said),
                        "heard": [t.heard for t in end.call.turns],
                        "expected": expected,
                        "recorded": end.answers,
                        "right": right,
                        "outcome": end.outcome,
                        "read_backs": sum("I heard" in t for t in bot),
                        "reprompts": sum("didn't catch" in t for t in bot),
                        "turn_latency_ms": latencies,
                        "wall_s": round(wall, 1),
                    }
                )
                print(f"{voice}: {sum(right.values())}/{len(right)} {end.answers}", flush=True)

        asyncio.run(go())
    total = sum(len(r["right"]) for r in runs)
    good = sum(sum(r["right"].values()) for r in runs)
    by_question: dict[str, list[bool]] = {}
    for r in runs:
        for q, ok in r["right"].items():
            by_question.setdefault(q, []).append(ok)
    lat = sorted(x for r in runs for x in r["turn_latency_ms"])
    summary = {
        "what": "survey answer accuracy on spoken answers (espeak-ng/flite voices, Whisper)",
        "data": "reporting only (seeded respondents, never used for tuning)",
        "voices": len(runs),
        "answers": total,
        "accuracy": round(good / total, 3) if total else None,
        "by_question": {q: round(sum(v) / len(v), 3) for q, v in by_question.items()},
        "completed": sum(r["outcome"] == "completed" for r in runs),
        "read_backs": sum(r["read_backs"] for r in runs),
        "reprompts": sum(r["reprompts"] for r in runs),
        "turn_latency_p50_ms": lat[len(lat) // 2] if lat else None,
        "note": "latency measured on 2 cores shared with other jobs: inflated",
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "survey_speech.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
