#!/usr/bin/env python3
"""Spoken survey answers: the recogniser's ``free`` mode against its ``answer`` mode.

An outbound survey asks for a number on a scale (1-5, 0-10) or a yes/no; callees answer
with one word or a short phrase. Whisper hears a short word said alone badly with the
inbound line's context ("seven" -> "Heaven.", "two" -> "Deal."); the ``answer`` mode gives
it numbers and yes/no as context (``asr.whisper_answer_prompt``). Each clip is decoded in
both modes and typed by the survey's own answer parser (a 0-10 question for numbers, a
yes/no question for yes/no); an answer is right when the parser's value is what was said.

Sets (kept apart; the prompt was chosen looking at the tuning set only):
  tune    14 words and phrases in 6 synthetic voices (espeak-ng en-us, en-us+f3,
          en-gb-scotland; flite slt, rms, awb)
  report  real human speech: FSDD digits 0-9 (3 speakers, 5 odd takes each, 8 kHz) and
          Speech Commands "yes"/"no"; plus other phrases in voices not in the tuning set
          (flite kal, espeak-ng en-gb-x-rp, en-us+m3)

    .venv/bin/python bench/survey_asr.py [--out bench/results/survey_asr.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.asr import load_engine  # noqa: E402
from voicebot.audio.wavio import load_audio  # noqa: E402
from voicebot.center.campaigns.answers import parse_answer  # noqa: E402
from voicebot.center.campaigns.questions import Question  # noqa: E402
from voicebot.center.campaigns.spoken import synthesize  # noqa: E402
from voicebot.config import load_settings  # noqa: E402
from voicebot.replay.cases import FSDD_DIR  # noqa: E402

NPS = Question("score", "How likely are you to recommend us, from 0 to 10?", "nps_0_10")
YES_NO = Question("again", "Would you use us again?", "yes_no")
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
TUNE_VOICES = [
    "espeak:en-us",
    "espeak:en-us+f3",
    "espeak:en-gb-scotland",
    "flite:slt",
    "flite:rms",
    "flite:awb",
]
TUNE_SAID = [
    ("seven", "7"),
    ("two", "2"),
    ("four", "4"),
    ("I would say four", "4"),
    ("yes", "yes"),
    ("nine", "9"),
    ("three", "3"),
    ("eight", "8"),
    ("six", "6"),
    ("five", "5"),
    ("one", "1"),
    ("no", "no"),
    ("ten", "10"),
    ("zero", "0"),
]
REPORT_VOICES = ["flite:kal", "espeak:en-gb-x-rp", "espeak:en-us+m3"]
REPORT_SAID = [
    ("I'd give it a six", "6"),
    ("probably an eight", "8"),
    ("a solid seven", "7"),
    ("definitely yes", "yes"),
    ("no not really", "no"),
    ("nine out of ten", "9"),
    ("two", "2"),
    ("five", "5"),
    ("yes please", "yes"),
    ("nope", "no"),
]


def clips(which: str) -> list[tuple[str, str, np.ndarray]]:
    """(label, expected value, 8 kHz int16 audio) for the set."""
    out: list[tuple[str, str, np.ndarray]] = []
    if which == "tune":
        for voice in TUNE_VOICES:
            for text, value in TUNE_SAID:
                out.append((f"{voice} {text}", value, synthesize(text, voice)))
        return out
    rec = FSDD_DIR / "recordings"
    for digit in range(10):
        for speaker in ("jackson", "nicolas", "yweweler"):
            for take in (1, 11, 21, 31, 41):
                path = rec / f"{digit}_{speaker}_{take}.wav"
                out.append((f"fsdd {path.name}", str(digit), load_audio(path, rate=8000).samples))
    commands = FSDD_DIR.parent / "speech_commands_tflm"
    for word in ("yes", "no"):
        path = commands / f"{word}_1000ms.wav"
        if path.exists():
            out.append((f"speech_commands {path.name}", word, load_audio(path, rate=8000).samples))
    for voice in REPORT_VOICES:
        for text, value in REPORT_SAID:
            out.append((f"{voice} {text}", value, synthesize(text, voice)))
    return out


def typed(text: str, value: str) -> str | None:
    question = YES_NO if value in ("yes", "no") else NPS
    return parse_answer(question, text).value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "survey_asr.json")
    args = ap.parse_args()
    engine = load_engine(load_settings())
    result: dict[str, object] = {
        "what": __doc__.split("\n\n")[0],
        "asr": "whisper (the product's default model), 8 kHz clips",
        "sets": {},
    }
    for which in ("tune", "report"):
        items = clips(which)
        rows = []
        right = {"free": 0, "answer": 0}
        began = time.monotonic()
        for i, (label, value, audio) in enumerate(items, 1):
            row: dict[str, object] = {"clip": label, "said": value}
            for mode in ("free", "answer"):
                stream = engine.open_stream(mode)  # type: ignore[arg-type]
                stream.accept(np.asarray(audio, dtype=np.int16))
                heard = stream.finish().text
                got = typed(heard, value)
                right[mode] += got == value
                row[mode] = {"heard": heard, "typed": got}
            rows.append(row)
            print(f"\r{which}: {i}/{len(items)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        n = len(items)
        summary = {m: {"right": right[m], "of": n, "share": round(right[m] / n, 3)} for m in right}
        print(which, json.dumps(summary), f"({time.monotonic() - began:.0f} s)")
        result["sets"][which] = {"summary": summary, "clips": rows}  # type: ignore[index]
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
