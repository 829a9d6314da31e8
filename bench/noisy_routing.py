#!/usr/bin/env python3
"""Share of noisy-line callers routed to the right department (issue 10, part 8).

Callers on a very noisy line (white noise at 0 and 3 dB SNR) ask for a department in
espeak-ng and flite voices. Every simulated caller follows the same policy, whatever the
bot's version, so runs of old and new code compare fairly:

1. say the request;
2. after each bot prompt: when the prompt offers a keypad key for what the caller wants
   ("... press 1 for billing ..."), press that key; when the bot asks "would you like me to
   put you through to X?", say "yes please" if X is the wanted department and "no, that's
   wrong" otherwise; else say the request again (its second phrasing, fresh noise);
3. give up after four actions (hang up).

A call counts as routed right when it ends in a hand-off (or a message) to the wanted
department. Prints the share per noise level and overall and writes
``bench/results/noisy_routing.json`` (or ``--out``). This is reporting data: nothing in the
dialog, the menu or the yes/no interpreter was tuned on these calls.

Usage: .venv/bin/python bench/noisy_routing.py [--render] [--out FILE] [--limit N]
``--render`` (re)makes the caller WAVs in ``bench/noisy_routing/`` (needs espeak-ng, flite
and sox; the committed WAVs are used otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.events import DtmfDigit
from voicebot.line import LineInput
from voicebot.replay.cases import CallerCase, CallerTurn, Expectation, _mix_noise
from voicebot.replay.simline import SimulatedLine

HERE = Path(__file__).resolve().parent
AUDIO = HERE / "noisy_routing"
#: Monday 11:00 in London: every department is open
NOW = "2026-11-23T11:00:00+00:00"
SNR_DB = (0.0, 3.0)
VOICES = ("espeak:en-gb", "espeak:en-us+f2", "flite:kal", "flite:slt")

#: wanted department -> (two phrasings, words the caller listens for in a keypad menu,
#: the department's spoken name in "put you through to ...")
GOALS: dict[str, tuple[tuple[str, str], tuple[str, ...], str]] = {
    "billing": (
        ("i need help with my bill", "it's about my bill"),
        ("billing", "bill"),
        "billing",
    ),
    "sales": (
        ("i want to upgrade my broadband package", "i'd like to buy a new package"),
        ("sales", "new products"),
        "sales",
    ),
    "contracts": (
        ("i'm moving house next month", "i want to cancel my contract"),
        ("moving", "cancel"),
        "contracts",
    ),
    "customer_service": (
        ("can i speak to a person please", "let me talk to someone"),
        ("customer service", "a person", "anything else"),
        "customer service",
    ),
    "complaints": (
        ("i want to make a complaint", "i'm very unhappy with your service"),
        ("complaint",),
        "customer relations",
    ),
}
ANSWERS = {"yes": "yes please", "no": "no that's wrong"}


def wav_name(voice: str, text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", f"{voice}_{text}".lower()).strip("_")
    return f"{slug}.wav"


def render_all() -> None:
    """Speak every phrase in every voice into 8 kHz µ-law WAVs (like tests/audio)."""
    sys.path.insert(0, str(HERE.parent / "tests" / "audio"))
    from make_cases import render  # type: ignore[import-not-found]

    texts = [t for phrases, _, _ in GOALS.values() for t in phrases] + list(ANSWERS.values())
    for voice in VOICES:
        for text in texts:
            render(text, voice, AUDIO / wav_name(voice, text))
    print(f"rendered {len(VOICES) * len(texts)} WAVs into {AUDIO}")


def load(voice: str, text: str, snr_db: float, seed: int, rate: int) -> np.ndarray:
    from voicebot.audio.wavio import load_audio

    audio = load_audio(AUDIO / wav_name(voice, text), rate=rate).samples
    return _mix_noise(audio, snr_db, seed)


@dataclass
class NoisyCaller(SimulatedLine):
    """A simulated line whose caller decides each action from what the bot just said."""

    goal: str = "billing"
    voice: str = "flite:kal"
    snr_db: float = 0.0
    seed: int = 0
    session: Any = None
    actions: list[str] = field(default_factory=list)

    def _said_since_last_action(self) -> str:
        texts: list[str] = []
        for _, who, text in reversed(self.session.timeline if self.session else []):
            if who == "caller":
                break
            texts.append(text)
        return " ".join(reversed(texts))

    def _choose(self) -> tuple[str, str]:
        """("key", digit) | ("say", text), from the bot's last prompt."""
        phrases, menu_words, name = GOALS[self.goal]
        said = self._said_since_last_action().lower()
        for key, label in re.findall(r"(?:press\s+)?\b(\d)\s+for\s+([^,.?;]+)", said):
            if any(word in label for word in menu_words):
                return "key", key
        asked = re.search(r"put you through to ([^?.]+)\?", said)
        if asked:
            return "say", ANSWERS["yes" if name in asked.group(1) else "no"]
        repeats = sum(a.startswith("say:") and a[4:] in phrases for a in self.actions)
        return "say", phrases[min(repeats, 1)]

    async def _say(self, text: str) -> AsyncIterator[LineInput]:
        audio = load(self.voice, text, self.snr_db, self.seed + 7 * len(self.actions), self.rate)
        async for item in self._advance(audio, len(audio)):
            yield item
        async for item in self._advance(None, int(self.trailing_s * self.rate)):
            yield item

    async def inputs(self) -> AsyncIterator[LineInput]:
        gap = int(self.gap_s * self.rate)
        while not self._ended and len(self.actions) < 4:
            await self._bot_done()
            async for item in self._silence_until(self._play_end + gap):
                yield item
            if self._ended:
                break
            kind, what = ("say", GOALS[self.goal][0][0]) if not self.actions else self._choose()
            self.actions.append(f"{kind}:{what}")
            if kind == "key":
                yield DtmfDigit(self.now(), what)
                async for item in self._advance(None, int(3.5 * self.rate)):
                    yield item
            else:
                async for item in self._say(what):
                    yield item
        if not self._ended:
            await self._bot_done()
            async for item in self._silence_until(self._play_end + int(self.tail_s * self.rate)):
                yield item
        if not self._ended:
            from voicebot.line import HungUp

            yield HungUp(self.now())


def calls(limit: int | None) -> list[tuple[str, str, float, int]]:
    out = [
        (goal, voice, snr, 100 * i + j)
        for i, goal in enumerate(GOALS)
        for j, voice in enumerate(VOICES)
        for snr in SNR_DB
    ]
    return out[:limit] if limit else out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true", help="re-render the caller WAVs")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "noisy_routing.json")
    parser.add_argument("--limit", type=int, default=None, help="run only the first N calls")
    parser.add_argument("--label", default="", help="a name for this run in the JSON")
    args = parser.parse_args()
    if args.render or not AUDIO.is_dir():
        render_all()
    os.environ["VOICEBOT_VAR"] = tempfile.mkdtemp(prefix="voicebot-noisy-")
    from voicebot.replay.harness import simulated_pipeline

    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with simulated_pipeline(NOW) as pipeline:

        async def go() -> None:
            for goal, voice, snr, seed in calls(args.limit):
                case = CallerCase(
                    f"noisy-{goal}-{voice}-{snr:g}".replace(":", "_"),
                    AUDIO,
                    f"{goal} on a {snr:g} dB line, {voice}",
                    (CallerTurn("pause"),),
                    Expectation(),
                )
                line = NoisyCaller(
                    case, rate=pipeline.rate, goal=goal, voice=voice, snr_db=snr, seed=seed
                )
                session = pipeline.session(line)
                line.session = session
                line.session_idle = session.idle
                result = await session.run()
                pipeline.bridge.forget(line.call_id)
                out = result.outcome
                right = out.kind in ("routed", "message") and out.department == goal
                rows.append(
                    {
                        "goal": goal,
                        "voice": voice,
                        "snr_db": snr,
                        "right": right,
                        "outcome": out.kind,
                        "department": out.department,
                        "reason": str(out.reason) if out.reason else None,
                        "actions": line.actions,
                        "heard": [t.heard for t in result.turns],
                        "intents": list(out.intents),
                        "errors": result.errors,
                    }
                )
                mark = "ok " if right else "BAD"
                print(
                    f"{mark} {goal:16s} {voice:16s} {snr:3g} dB -> {out.describe():40s} "
                    f"{' | '.join(line.actions)}",
                    flush=True,
                )

        asyncio.run(go())

    def share(sel: list[dict[str, Any]]) -> float:
        return round(sum(r["right"] for r in sel) / len(sel), 3) if sel else 0.0

    summary = {
        "label": args.label,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "calls": len(rows),
        "routed_right": sum(r["right"] for r in rows),
        "share_routed_right": share(rows),
        "by_snr_db": {f"{s:g}": share([r for r in rows if r["snr_db"] == s]) for s in SNR_DB},
        "by_goal": {g: share([r for r in rows if r["goal"] == g]) for g in GOALS},
        "keys_pressed": sum(any(a.startswith("key:") for a in r["actions"]) for r in rows),
        "wall_s": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"routed right: {summary['routed_right']}/{len(rows)} = {summary['share_routed_right']:.1%}"
        f"  by SNR {summary['by_snr_db']}  keys pressed in {summary['keys_pressed']} calls"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
