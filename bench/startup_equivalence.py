#!/usr/bin/env python3
"""The faster dialog-model load decides exactly as Rasa's own load does.

``voicebot.dialog.model.load_agent`` builds DIET's and TED's variables with one eager
training step instead of a traced one (:func:`voicebot.dialog.model.eager_weight_build`);
the trained weights are loaded over them either way. This script loads the trained model
both ways, each in a fresh process, and runs the same inputs through each:

* every NLU example of ``nlu/`` and the caller turns of ``tests/audio/*.yml`` through
  ``Agent.parse_message`` (intent ranking with confidences, entities);
* every ``tests/audio/*.yml`` case as a conversation through the dialog bridge with the
  real action server (clock frozen): each reply, intent and confidence, and every action
  the policies chose with its policy and confidence.

It prints the load times, the first bridge turns' and the median turn's time after each
load (the first turns come right after loading, with no warm-up), and whether the two
results are identical (floats compared exactly); it exits 1 if they are not. These inputs
are only compared, nothing is scored.
Writes ``bench/results/startup_equivalence.json``.

Usage::

    .venv/bin/python bench/startup_equivalence.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "startup_equivalence.json"
FROZEN_NOW = "2026-11-23T18:30:00+00:00"


def nlu_examples() -> list[str]:
    texts: list[str] = []
    for path in sorted((ROOT / "nlu").rglob("*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        for item in data.get("nlu") or []:
            for line in str(item.get("examples") or "").splitlines():
                line = line.strip().removeprefix("- ").strip()
                if line:
                    texts.append(line)
    return texts


def cases() -> dict[str, list[str]]:
    """Each replay case's caller turns as text (keypad digits as their digits)."""
    out: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests" / "audio").glob("*.yml")):
        if path.name.startswith("_"):
            continue
        data = yaml.safe_load(path.read_text()) or {}
        turns = []
        for turn in data.get("turns") or []:
            if "text" in turn:
                turns.append(str(turn["text"]))
            elif "dtmf" in turn:
                turns.append(str(turn["dtmf"]).rstrip("#"))
        if turns:
            out[path.stem] = turns
    return out


async def run_inputs(mode: str, endpoint: str) -> dict[str, Any]:
    from voicebot.config import load_settings
    from voicebot.dialog import model as dialog_model
    from voicebot.dialog.bridge import DialogBridge
    from voicebot.dialog.settings import dialog_config

    if mode == "rasa":  # Rasa's own load: the traced one-example fit
        dialog_model.eager_weight_build = contextlib.nullcontext  # type: ignore[assignment]
    cfg = dialog_config(load_settings())
    started = time.monotonic()
    agent = dialog_model.load_agent(dialog_model.latest_model(cfg.models_path()), endpoint)
    load_s = time.monotonic() - started
    parses = {}
    texts = nlu_examples() + [t for turns in cases().values() for t in turns]
    for text in texts:
        parsed = await agent.parse_message(text)
        parses[text] = {
            "ranking": [(r["name"], r["confidence"]) for r in parsed.get("intent_ranking", [])],
            "entities": [(e["entity"], e["value"]) for e in parsed.get("entities", [])],
        }
    bridge = DialogBridge(agent)
    conversations = {}
    turn_ms: list[float] = []  # every bridge turn's time, first conversation first
    for name, turns in cases().items():
        call_id = f"eq-{name}"
        began = time.perf_counter()
        replies = [list((await bridge.start(call_id)).texts)]
        turn_ms.append((time.perf_counter() - began) * 1000)
        for text in turns:
            began = time.perf_counter()
            reply = await bridge.handle(call_id, text)
            turn_ms.append((time.perf_counter() - began) * 1000)
            replies.append([*reply.texts, reply.intent, reply.confidence])
        tracker = await agent.tracker_store.retrieve(call_id)
        actions = [
            (e.action_name, e.policy, e.confidence)
            for e in (tracker.events if tracker else [])
            if type(e).__name__ == "ActionExecuted"
        ]
        conversations[name] = {"replies": replies, "actions": actions}
    return {
        "load_s": round(load_s, 1),
        "first_turns_ms": [round(t) for t in turn_ms[:4]],
        "turn_ms_median": round(sorted(turn_ms)[len(turn_ms) // 2]),
        "parses": parses,
        "conversations": conversations,
    }


def child(mode: str, endpoint: str, out: Path) -> int:
    result = asyncio.run(run_inputs(mode, endpoint))
    out.write_text(json.dumps(result))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", choices=("rasa", "eager"))
    ap.add_argument("--endpoint")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "startup_equivalence.json"
    )
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.endpoint, args.out)

    sys.path.insert(0, str(ROOT / "bench"))
    from sip_load import free_port

    from voicebot.dialog.action_server import ActionServer

    folder = Path(tempfile.mkdtemp(prefix="voicebot-eq-"))
    endpoint = f"http://127.0.0.1:{free_port()}/webhook"
    env = {"VOICEBOT_NOW": FROZEN_NOW, "VOICEBOT_VAR": str(folder), "VOICEBOT_DEMO_CUSTOMERS": "1"}
    results: dict[str, Any] = {}
    with ActionServer(endpoint, env=env, log_path=folder / "actions.log").start(
        timeout_s=300, reuse=False
    ):
        for mode in ("rasa", "eager"):
            out = folder / f"{mode}.json"
            subprocess.run(
                [sys.executable, __file__, "--child", mode, "--endpoint", endpoint,
                 "--out", str(out)],
                check=True, cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            results[mode] = json.loads(out.read_text())
    same_parses = results["rasa"]["parses"] == results["eager"]["parses"]
    same_conversations = results["rasa"]["conversations"] == results["eager"]["conversations"]
    summary = {
        "what": "the trained dialog model loaded by Rasa's own load and by the eager weight "
        "build: the same inputs through both (compared, not scored)",
        "load_s": {mode: results[mode]["load_s"] for mode in results},
        "first_turns_ms": {mode: results[mode]["first_turns_ms"] for mode in results},
        "turn_ms_median": {mode: results[mode]["turn_ms_median"] for mode in results},
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        "parses": len(results["rasa"]["parses"]),
        "conversations": len(results["rasa"]["conversations"]),
        "actions": sum(len(c["actions"]) for c in results["rasa"]["conversations"].values()),
        "identical_parses": same_parses,
        "identical_conversations": same_conversations,
    }
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    return 0 if same_parses and same_conversations else 1


if __name__ == "__main__":
    sys.exit(main())
