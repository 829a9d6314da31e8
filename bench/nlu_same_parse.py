"""Do two versions of the code parse every NLU example the same way?

Parses every example text of ``nlu/`` and every transcript of ``tests/audio/*.yml`` with the
trained model in ``models/`` (Rasa's ``Agent.parse_message``: the whole NLU graph, MiniLM
included) and writes intent, confidence and entities per text. With ``--against FILE`` it
compares with an earlier dump: intents and entities must be equal, confidences within
``--tol``; it prints the differences and exits 1 if there are any.

    PYTHONPATH=$PWD .venv/bin/python bench/nlu_same_parse.py --out /tmp/nlu_before.json
    (change the code)
    PYTHONPATH=$PWD .venv/bin/python bench/nlu_same_parse.py --out /tmp/nlu_after.json \
        --against /tmp/nlu_before.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def texts() -> list[str]:
    from rasa.shared.nlu.training_data.loading import load_data

    out: set[str] = set()
    for path in sorted((ROOT / "nlu").rglob("*.yml")):
        out.update(m.get("text") for m in load_data(str(path)).training_examples)
    for path in sorted((ROOT / "tests/audio").glob("*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        for turn in data.get("turns") or []:
            if isinstance(turn, dict) and turn.get("text"):
                out.add(str(turn["text"]))
    return sorted(t for t in out if t)


def summary(parse: dict) -> dict:
    return {
        "intent": (parse.get("intent") or {}).get("name"),
        "confidence": float((parse.get("intent") or {}).get("confidence") or 0.0),
        "entities": [
            [e.get("entity"), e.get("value"), e.get("start"), e.get("end"), e.get("extractor")]
            for e in parse.get("entities") or []
        ],
    }


async def parse_all(items: list[str]) -> dict[str, dict]:
    from voicebot.dialog.model import latest_model, load_agent

    agent = load_agent(latest_model(ROOT / "models"), None)
    return {text: summary(await agent.parse_message(text)) for text in items}


def compare(now: dict[str, dict], before: dict[str, dict], tol: float) -> list[str]:
    diffs = []
    for text, old in before.items():
        new = now.get(text)
        if new is None:
            diffs.append(f"missing: {text!r}")
        elif new["intent"] != old["intent"] or new["entities"] != old["entities"]:
            diffs.append(f"{text!r}: {old} -> {new}")
        elif abs(new["confidence"] - old["confidence"]) > tol:
            diffs.append(f"{text!r}: confidence {old['confidence']} -> {new['confidence']}")
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--against", type=Path)
    parser.add_argument("--tol", type=float, default=1e-4, help="confidence tolerance")
    args = parser.parse_args()
    items = texts()
    began = time.monotonic()
    now = asyncio.run(parse_all(items))
    print(f"{len(items)} texts parsed in {time.monotonic() - began:.0f} s")
    args.out.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    if args.against:
        diffs = compare(now, json.loads(args.against.read_text()), args.tol)
        print("\n".join(diffs[:50]))
        worst = max(
            (abs(now[t]["confidence"] - o["confidence"]) for t, o in
             json.loads(args.against.read_text()).items() if t in now),
            default=0.0,
        )  # fmt: skip
        print(f"{len(diffs)} differences; largest confidence change {worst:.2e}")
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
