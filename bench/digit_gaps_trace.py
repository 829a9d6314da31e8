#!/usr/bin/env python3
"""Every decode behind each digit string of bench/digit_gaps.py, for finding why a string fails.

    nice -n 10 .venv/bin/python bench/digit_gaps_trace.py [--set tune] [--kind pins]
        [--gaps 0.2,2.0] [--only-failing]

Runs the same strings as bench/digit_gaps.py (same seeds, takes and groupings) through
the same hearing path, with the recognizer wrapped so that every stream it opens is
recorded: mode (free / digits), the length it was told, seconds of audio it heard, and what
its preview or final decode returned. Prints, per string and gap, the first turn and the
decodes in order. Meant for the tuning set only (``--set tune``): looking at the reporting
set's decodes would tune on it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import digit_gaps as dg  # noqa: E402

from voicebot.asr import load_engine  # noqa: E402
from voicebot.audio.vad import VadConfig  # noqa: E402
from voicebot.config import load_settings, section_to  # noqa: E402
from voicebot.session_config import SessionConfig  # noqa: E402
from voicebot.turns import TurnConfig  # noqa: E402


class TracedStream:
    """A recognizer stream that records what it heard and returned."""

    def __init__(self, inner: Any, log: list[str], expect: str, length: int | None, rate: int):
        self.inner, self.log, self.expect, self.length, self.rate = inner, log, expect, length, rate
        self.samples = 0

    def accept(self, samples: Any) -> Any:
        self.samples += int(np.asarray(samples).size)
        return self.inner.accept(samples)

    def _note(self, what: str, t: Any) -> Any:
        self.log.append(
            f"{what:7} {self.expect:6} told={self.length} {self.samples / self.rate:5.2f}s"
            f" -> {t.text!r} ({float(t.confidence):.2f})"
        )
        return t

    def preview(self) -> Any:
        return self._note("preview", self.inner.preview())

    def finish(self) -> Any:
        return self._note("finish", self.inner.finish())


class TracedRecognizer:
    def __init__(self, inner: Any, log: list[str]) -> None:
        self.inner, self.log = inner, log
        self.name = getattr(inner, "name", "?")

    def open_stream(self, expect: str = "free", *, sample_rate: int = 8000, length: Any = None):
        inner = self.inner.open_stream(expect, sample_rate=sample_rate, length=length)
        return TracedStream(inner, self.log, expect, length, sample_rate)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--set", choices=["tune"], default="tune")
    ap.add_argument("--kind", choices=["pins", "accounts"], default="pins")
    ap.add_argument("--n", type=int, default=15, help="strings (the bench's first n)")
    ap.add_argument("--start", type=int, default=0, help="skip the first strings")
    ap.add_argument("--gaps", default="0.2,2.0")
    ap.add_argument("--only", default="", help="comma list of digit strings to run")
    args = ap.parse_args()
    settings = load_settings()
    log: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log.append("log     " + record.getMessage())

    held_log = logging.getLogger("voicebot.held_groups")
    held_log.setLevel(logging.DEBUG)
    held_log.addHandler(Keep())
    held_log.propagate = False
    recognizer = TracedRecognizer(load_engine(settings), log)
    vad = section_to(VadConfig, settings, "vad")
    turns_cfg = section_to(TurnConfig, settings, "turns")
    session_cfg = section_to(SessionConfig, settings, "session")
    parity, seed_base = dg.SETS[args.set]
    only = {s for s in args.only.split(",") if s}
    right = {g: 0 for g in args.gaps.split(",")}
    for s in dg.make_strings(args.kind, args.n, parity, seed_base)[args.start :]:
        if only and s.digits not in only:
            continue
        for gap in args.gaps.split(","):
            log.clear()
            pauses = dg.gaps_for(s, gap)
            expect = "digits" if s.kind == "accounts" else "free"
            heard = asyncio.run(
                dg.hear_string(
                    dg.audio_of(s, pauses),
                    expect,
                    len(s.digits),
                    recognizer,
                    vad,  # type: ignore[arg-type]
                    turns_cfg,
                    session_cfg,
                )
            )
            first = heard["turns"][0]["digits"] if heard["turns"] else ""
            ok = first == s.digits
            right[gap] += ok
            turns = [(t["text"], t["endpoint_ms"], t["groups"]) for t in heard["turns"]]
            print(
                f"{'OK ' if ok else 'BAD'} {s.digits} {s.speaker} takes={s.takes} "
                f"groups={'-'.join(map(str, s.groups))} gap={gap} turns={turns}"
            )
            for line in log:
                print("      " + line)
            sys.stdout.flush()
    print("right:", right)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
