#!/usr/bin/env python3
"""Spoken survey answers per question type, heard the way the survey call hears them.

An outbound survey asks for a 1-5 rating (``scale``), a 0-10 score (``score``), a yes/no, a
choice from a list (phone / web / shop), a free ``comment`` and, first, ``consent`` (yes,
no, call me later, don't call me again). Each clip is decoded in the recogniser mode the
survey session uses for its question type (:func:`voicebot.center.campaigns.answers.
heard_as`) and typed by the survey's own parser (``parse_answer``; consent: yes/no plus
"call me later"/"don't call me again"). A typed answer is right when its value is what was
said, whether taken at once (``sure``) or read back first (``unsure``); ``taken_wrong``
counts wrong values taken without a read-back (the worst case); ``none`` answers are asked
again. A comment is right when its word error rate is at most 0.5.

Sets (kept apart; every choice of mode, prompt and parser rule was made on ``tune`` only):
  tune    30 phrases in 6 synthetic voices (espeak-ng en-us, en-us+f3, en-gb-scotland;
          flite slt, rms, awb) + human digits: FSDD takes 6 (0-9, as scores) and 16 (1-5,
          as ratings) of its 3 speakers
  report  other phrases in 3 voices not in the tuning set (flite kal, espeak-ng
          en-gb-x-rp, en-us+m3) + human speech: FSDD takes 1, 11, 21, 31, 41 (0-9 as scores)
          and Speech Commands "yes"/"no". Caveat: FSDD's speakers are the same in both sets
          (other takes), and the digits mode was tuned earlier on all of FSDD.

    .venv/bin/python bench/survey_asr.py [--sets tune,report] [--modes free,answer,...]
        [--out bench/results/survey_asr.json] [--show-wrong]

``--modes`` also decodes every clip in the named modes (for choosing a mode on the tuning
set); the product's own choice is always measured as ``product``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.asr import load_engine  # noqa: E402
from voicebot.audio.wavio import load_audio  # noqa: E402
from voicebot.center.campaigns.answers import (  # noqa: E402
    end_request,
    heard_as,
    parse_answer,
)
from voicebot.center.campaigns.questions import Question  # noqa: E402
from voicebot.center.campaigns.spoken import synthesize  # noqa: E402
from voicebot.config import load_settings  # noqa: E402
from voicebot.replay.cases import FSDD_DIR  # noqa: E402
from voicebot.yes_no import interpret as interpret_yes_no  # noqa: E402
from voicebot.yes_no import tokens  # noqa: E402

QUESTIONS: dict[str, Question | None] = {
    "scale": Question("satisfaction", "From 1 to 5, how satisfied were you?", "scale_1_5"),
    "score": Question("recommend", "From 0 to 10, how likely are you to recommend us?", "nps_0_10"),
    "yes_no": Question("resolved", "Was your problem solved?", "yes_no"),
    "choice": Question(
        "channel", "By phone, on the web, or in a shop?", "choice", ("phone", "web", "shop")
    ),
    "comment": Question("comment", "Anything else you would like to tell us?", "comment"),
    "consent": None,
}
TYPES = tuple(QUESTIONS)
TUNE_VOICES = [
    "espeak:en-us",
    "espeak:en-us+f3",
    "espeak:en-gb-scotland",
    "flite:slt",
    "flite:rms",
    "flite:awb",
]
REPORT_VOICES = ["flite:kal", "espeak:en-gb-x-rp", "espeak:en-us+m3"]
#: type -> (said, expected value); a comment's expected value is what was said
TUNE_SAID: dict[str, list[tuple[str, str]]] = {
    "scale": [
        ("four", "4"),
        ("I would say four", "4"),
        ("two", "2"),
        ("five", "5"),
        ("one", "1"),
        ("three", "3"),
        ("a four", "4"),
        ("four out of five", "4"),
    ],
    "score": [
        ("seven", "7"),
        ("nine", "9"),
        ("zero", "0"),
        ("ten", "10"),
        ("eight", "8"),
        ("six", "6"),
        ("eight out of ten", "8"),
        ("nine I guess", "9"),
    ],
    "yes_no": [("yes", "yes"), ("no", "no"), ("yes it was", "yes"), ("no it wasn't", "no")],
    "choice": [
        ("by phone", "phone"),
        ("mostly on the web", "web"),
        ("in a shop", "shop"),
        ("phone", "phone"),
    ],
    "comment": [
        ("the engineer was very friendly", ""),
        ("it took too long to get through", ""),
    ],
    "consent": [
        ("yes sure", "yes"),
        ("okay", "yes"),
        ("no thank you", "no"),
        ("call me later", "later"),
    ],
}
REPORT_SAID: dict[str, list[tuple[str, str]]] = {
    "scale": [
        ("I'd give it a four", "4"),
        ("probably a two", "2"),
        ("five", "5"),
        ("three I think", "3"),
        ("um one", "1"),
        ("a solid three", "3"),
    ],
    "score": [
        ("I'd give it a six", "6"),
        ("probably an eight", "8"),
        ("a solid seven", "7"),
        ("nine out of ten", "9"),
        ("two", "2"),
        ("five", "5"),
        ("ten", "10"),
    ],
    "yes_no": [
        ("definitely yes", "yes"),
        ("no not really", "no"),
        ("yes please", "yes"),
        ("nope", "no"),
    ],
    "choice": [
        ("on the phone", "phone"),
        ("the web", "web"),
        ("usually the shop", "shop"),
        ("I go to the shop", "shop"),
    ],
    "comment": [("nothing else thank you", ""), ("the wait was far too long", "")],
    "consent": [
        ("yes go ahead", "yes"),
        ("sure", "yes"),
        ("not now", "later"),
        ("please don't call me again", "opt_out"),
        ("no", "no"),
    ],
}
#: extra modes compared only on the types they are for
SOME_TYPES = {"number": ("scale", "score"), "yes_no": ("yes_no", "consent")}
Clip = tuple[str, str, str, str, np.ndarray]  # (label, type, said, expected, audio)


def _fsdd(digits: range, takes: tuple[int, ...], kind: str) -> list[Clip]:
    out: list[Clip] = []
    for digit in digits:
        for speaker in ("jackson", "nicolas", "yweweler"):
            for take in takes:
                path = FSDD_DIR / "recordings" / f"{digit}_{speaker}_{take}.wav"
                audio = load_audio(path, rate=8000).samples
                out.append((f"fsdd {path.name}", kind, str(digit), str(digit), audio))
    return out


def clips(which: str) -> list[Clip]:
    """(label, question type, said, expected value, 8 kHz int16 audio) of a set."""
    voices, said = (TUNE_VOICES, TUNE_SAID) if which == "tune" else (REPORT_VOICES, REPORT_SAID)
    out: list[Clip] = []
    for voice in voices:
        for kind, items in said.items():
            for text, value in items:
                audio = synthesize(text, voice)
                out.append((f"{voice} {text}", kind, text, value or text, audio))
    if which == "tune":
        return out + _fsdd(range(10), (6,), "score") + _fsdd(range(1, 6), (16,), "scale")
    out += _fsdd(range(10), (1, 11, 21, 31, 41), "score")
    commands = FSDD_DIR.parent / "speech_commands_tflm"
    for word in ("yes", "no"):
        path = commands / f"{word}_1000ms.wav"
        audio = load_audio(path, rate=8000).samples
        out.append((f"speech_commands {path.name}", "yes_no", word, word, audio))
    return out


def wer(said: str, heard: str) -> float:
    """Word error rate of ``heard`` against ``said`` (case and punctuation ignored)."""
    ref, hyp = tokens(said), tokens(heard)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def typed(kind: str, text: str) -> tuple[str | None, str]:
    """(typed value, certainty) as the survey dialog types ``text`` for a ``kind`` answer."""
    question = QUESTIONS[kind]
    if question is None:  # consent (dialogs/actions/survey.py validate_survey_consent)
        asked = end_request(text)
        if asked is not None:
            return asked, "sure"
        said = interpret_yes_no(text)
        return (said, "sure") if said in ("yes", "no") else (None, "none")
    parsed = parse_answer(question, text)
    return parsed.value, parsed.certainty


def score(kind: str, expected: str, heard: str) -> dict[str, Any]:
    value, certainty = typed(kind, heard)
    if kind == "comment":
        err = wer(expected, heard)
        return {"heard": heard, "wer": round(err, 3), "right": bool(heard) and err <= 0.5}
    right = value == expected
    return {
        "heard": heard,
        "typed": value,
        "certainty": certainty,
        "right": right,
        "taken_wrong": certainty == "sure" and not right,
    }


def summarize(rows: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in (*TYPES, "all"):
        mine = [r for r in rows if (kind == "all" or r["type"] == kind) and mode in r]
        if not mine:
            continue
        right = sum(r[mode]["right"] for r in mine)
        out[kind] = {
            "right": right,
            "of": len(mine),
            "share": round(right / len(mine), 3),
            "taken_wrong": sum(bool(r[mode].get("taken_wrong")) for r in mine),
            "read_back": sum(r[mode].get("certainty") == "unsure" for r in mine),
        }
    return out


def confusion(rows: list[dict[str, Any]], mode: str) -> dict[str, dict[str, int]]:
    """type -> {"said -> typed": count} over the wrong answers."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        if mode in r and not r[mode]["right"] and r["type"] != "comment":
            out[r["type"]][f"{r['said']} -> {r[mode].get('typed')}"] += 1
    return {k: dict(v.most_common()) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="tune,report")
    ap.add_argument("--types", default=",".join(TYPES), help="question types to measure")
    ap.add_argument("--modes", default="", help="extra recogniser modes to compare, e.g. free")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "survey_asr.json")
    ap.add_argument("--show-wrong", action="store_true", help="print wrong clips (tune only)")
    args = ap.parse_args()
    engine = load_engine(load_settings())
    extra = [m for m in args.modes.split(",") if m]
    result: dict[str, Any] = {
        "what": __doc__.split("\n\n")[0],
        "asr": "whisper (the product's default model), 8 kHz clips",
        "modes": {k: heard_as(q) for k, q in QUESTIONS.items()},
        "sets": {},
    }
    for which in args.sets.split(","):
        items = [c for c in clips(which) if c[1] in args.types.split(",")]
        rows: list[dict[str, Any]] = []
        began = time.monotonic()
        for i, (label, kind, said, expected, audio) in enumerate(items, 1):
            row: dict[str, Any] = {"clip": label, "type": kind, "said": expected}
            product = heard_as(QUESTIONS[kind])
            for mode in ["product", *extra]:
                if mode in SOME_TYPES and kind not in SOME_TYPES[mode]:
                    continue
                stream = engine.open_stream(product if mode == "product" else mode)  # type: ignore[arg-type]
                stream.accept(np.asarray(audio, dtype=np.int16))
                heard = stream.finish()
                row[mode] = score(kind, said if kind == "comment" else expected, heard.text)
                row[mode]["confidence"] = heard.confidence
            rows.append(row)
            print(f"\r{which}: {i}/{len(items)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        summaries = {m: summarize(rows, m) for m in ["product", *extra]}
        print(f"{which} ({time.monotonic() - began:.0f} s)")
        for mode, summary in summaries.items():
            line = "  ".join(f"{k} {v['right']}/{v['of']}" for k, v in summary.items())
            print(f"  {mode:8s} {line}")
        entry: dict[str, Any] = {"summary": summaries["product"], "clips": rows}
        if extra:
            entry["modes"] = summaries
        if which == "tune":
            entry["confusion"] = {m: confusion(rows, m) for m in ["product", *extra]}
            print(json.dumps(entry["confusion"], indent=1))
            if args.show_wrong:
                for r in rows:
                    for m in ["product", *extra]:
                        if m in r and not r[m]["right"]:
                            print(f"    {m:7s} {r['clip']!r:45s} heard {r[m]['heard']!r}")
        result["sets"][which] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
