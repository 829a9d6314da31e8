#!/usr/bin/env python3
"""Lone digits said to the PIN question, and short word answers: the tentative hold's data.

    nice -n 10 .venv/bin/python bench/lone_digits.py [--takes 0,10,20]
        [--out bench/results/lone_digits.json]

A caller who reads a PIN one digit at a time with long pauses says its first digit alone
to a question that takes words too (the PIN or a date of birth), so that digit is decoded
in ``free`` mode, told 4 digits, and Whisper often hears a word ("Bye." for "five").
:class:`voicebot.held_groups.HeldGroups` then decodes it again as digits and holds it as
the PIN's start when that decode is at least ``TENTATIVE_MIN_CONFIDENCE`` sure. This bench
prints what both decodes hear for

* lone digits: FSDD takes of every digit by the 3 speakers (even takes only: the tuning
  side of bench/digit_gaps.py's split), 0.2 s of silence before, 1 s after;
* short word answers: the recordings under tests/audio whose free decode is at most two
  words with no whole PIN in it (caller turns of the replay suite: "Goodbye.", "No.").

For each confidence threshold it counts the lone digits heard as words that would be held
with their right digit, and the word answers that would be held by mistake. Decoding only:
no timing is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.asr import load_engine  # noqa: E402
from voicebot.audio.wavio import load_audio  # noqa: E402
from voicebot.config import load_settings  # noqa: E402
from voicebot.digit_hold import in_progress  # noqa: E402
from voicebot.held_groups import TENTATIVE_MIN_CONFIDENCE  # noqa: E402
from voicebot.numbers import complete_digit_answer, spoken_digits  # noqa: E402
from voicebot.replay.cases import FSDD_DIR  # noqa: E402
from voicebot.stages import Recognizer  # noqa: E402

SPEAKERS = ("jackson", "nicolas", "yweweler")
RATE = 8000
THRESHOLDS = (0.2, 0.3, 0.35, 0.4, 0.5, 0.6)


def decode(engine: Recognizer, audio: np.ndarray) -> dict[str, Any]:
    """The free decode told 4 digits, and the digits decode not told the length."""
    free = engine.open_stream("free", sample_rate=RATE, length=4)
    free.accept(audio)
    heard = free.finish()
    digits = engine.open_stream("digits", sample_rate=RATE)
    digits.accept(audio)
    as_digits = digits.finish()
    return {
        "free": heard.text,
        "free_confidence": round(float(heard.confidence), 3),
        "digits": as_digits.text,
        "digits_confidence": round(float(as_digits.confidence), 3),
    }


def short_words(text: str) -> bool:
    """What the tentative hold looks at: one or two words, no whole PIN."""
    return bool(text.strip()) and len(text.split()) <= 2 and not complete_digit_answer(text, 4)


def held(row: dict[str, Any], threshold: float) -> bool:
    return (
        short_words(row["free"])
        and row["digits_confidence"] >= threshold
        and in_progress(row["digits"], 4)
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--takes", default="0,10,20", help="even FSDD takes (tuning side)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "lone_digits.json")
    args = ap.parse_args()
    takes = [int(t) for t in args.takes.split(",")]
    if any(t % 2 for t in takes):
        ap.error("--takes: even takes only (odd takes are bench/digit_gaps.py's reporting set)")
    engine = load_engine(load_settings())
    lone = []
    for speaker in SPEAKERS:
        for digit in "0123456789":
            for take in takes:
                clip = load_audio(FSDD_DIR / "recordings" / f"{digit}_{speaker}_{take}.wav").samples
                audio = np.concatenate(
                    [np.zeros(RATE // 5, np.int16), clip, np.zeros(RATE, np.int16)]
                )
                row = {"speaker": speaker, "digit": digit, "take": take, **decode(engine, audio)}
                lone.append(row)
    words = []
    for wav in sorted((ROOT / "tests" / "audio").glob("*/*.wav")):
        audio = load_audio(wav, rate=RATE).samples
        if len(audio) > RATE * 2.5:
            continue
        row = {"file": str(wav.relative_to(ROOT)), **decode(engine, audio)}
        if short_words(row["free"]):
            words.append(row)
    misheard = [r for r in lone if spoken_digits(r["free"]) != r["digit"]]
    table = {}
    for threshold in THRESHOLDS:
        recovered = sum(
            held(r, threshold) and spoken_digits(r["digits"]) == r["digit"] for r in misheard
        )
        wrongly = sum(held(r, threshold) for r in words)
        table[str(threshold)] = {"lone_digits_recovered": recovered, "words_held": wrongly}
        print(
            f"threshold {threshold:.2f}: lone digits heard as words and held right "
            f"{recovered}/{len(misheard)}, short word answers held {wrongly}/{len(words)}"
        )
    print(f"lone digits heard right by the free decode: {len(lone) - len(misheard)}/{len(lone)}")
    result = {
        "what": "lone FSDD digits and short word answers to the PIN question, decoded",
        "data": "tuning: FSDD even takes " + args.takes + "; words: tests/audio caller turns",
        "configured_threshold": TENTATIVE_MIN_CONFIDENCE,
        "lone_digits": len(lone),
        "lone_heard_as_words": len(misheard),
        "short_word_answers": len(words),
        "by_threshold": table,
        "misheard": misheard,
        "words": words,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
