#!/usr/bin/env python3
"""Speculative final decode (session.speculative_decode_ms): how long a turn waits for its
transcript after the endpoint, with and without, in real time, and whether the transcript
changes.

Every caller recording of the QA replay suite (tests/audio/*/NN.wav, espeak-ng/flite
voices, 8 kHz) is played in real time (20 ms frames paced by the wall clock) into the call's
ear (:class:`voicebot.hearing.Hearing`: Silero VAD + Whisper tiny.en in this process), as the
answer to a free question, once with speculation off and once on (interleaved, so load
on the machine hits both alike). Reported per mode: the wait from the endpoint decision
(the frame that ended the segment) to the final transcript (p50/p95/mean, ms), decodes per
turn (speculative decodes that speech made useless are wasted CPU), and how many
transcripts differ between the modes (the accuracy check: 0 expected).

Usage::

    .venv/bin/python bench/speculation.py [--limit N] [--pause-ms 64]

``--ivr`` instead takes third-party human speech: the reporting half (odd positions of the
files sorted by name, the half bench/whisper_settings.py did not tune on) of the Asterisk
IVR prompts in ../shared/eval (8 kHz, with transcripts), each clean and with white hiss at
20 dB SNR (a line's noise: the silence the early decode must stand in for is then not
digital), played as fast as the machine decodes (no real-time pacing: the transcripts are
the point, so the waits are not reported), and gives the word error rate of each mode
against the transcripts as well. Writes bench/results/speculation_ivr.json.

Writes bench/results/speculation.json. Wall times depend on the machine's load: the
``loadavg`` in the output says how busy it was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.asr import AsrEngine, load_engine  # noqa: E402
from voicebot.audio.vad import SpeechDetector, VadConfig  # noqa: E402
from voicebot.config import load_settings, section_to  # noqa: E402
from voicebot.events import ExpectedInput, Transcript  # noqa: E402
from voicebot.hearing import Hearing  # noqa: E402
from voicebot.session_config import SessionConfig  # noqa: E402

FRAME = 160
"""Samples per line frame (20 ms at 8 kHz)."""


@dataclass
class Counting:
    """The real engine, counting the decodes (finish calls) made through it."""

    engine: AsrEngine
    decodes: int = 0

    def open_stream(
        self, expect: ExpectedInput = "free", *, sample_rate: int = 8000, length: int | None = None
    ) -> Any:
        inner = self.engine.open_stream(expect, sample_rate=sample_rate, length=length)
        outer = self

        class Stream:
            def accept(self, samples: Any) -> Any:
                return inner.accept(samples)

            def finish(self) -> Any:
                outer.decodes += 1
                return inner.finish()

            def preview(self) -> Any:
                return inner.preview()

        return Stream()


@dataclass
class Heard:
    texts: list[str] = field(default_factory=list)
    waits_ms: list[float] = field(default_factory=list)
    decodes: int = 0


async def play(
    audio: np.ndarray,
    recognizer: Counting,
    cfg: SessionConfig,
    vad: VadConfig,
    pace: bool = True,
    noise_rms: float = 0.0,
) -> Heard:
    """Play ``audio`` in real time; the final transcripts and their waits after the endpoint."""
    hearing = Hearing(SpeechDetector(vad, 8000), recognizer, 8000, cfg)
    hearing.listen_for("free", None)
    line = np.concatenate([np.zeros(4000, np.int16), audio, np.zeros(8000, np.int16)])
    if noise_rms:
        hiss = np.random.default_rng(len(audio)).normal(0, noise_rms, len(line))
        line = np.clip(line + hiss, -32768, 32767).astype(np.int16)
    out = Heard()
    start = time.perf_counter()
    before = recognizer.decodes
    for i, pos in enumerate(range(0, len(line), FRAME)):
        delay = start + i * 0.02 - time.perf_counter()
        if pace and delay > 0:
            await asyncio.sleep(delay)
        elif not pace:
            await asyncio.sleep(0)  # let an early decode's future settle in order
        fed = time.perf_counter()
        async for event in hearing.hear(line[pos : pos + FRAME]):
            if isinstance(event, Transcript) and event.final:
                out.texts.append(event.text)
                out.waits_ms.append((time.perf_counter() - fed) * 1000)
    out.decodes = recognizer.decodes - before
    return out


def stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "mean": None}
    return {
        "p50": round(float(np.percentile(values, 50)), 1),
        "p95": round(float(np.percentile(values, 95)), 1),
        "mean": round(float(np.mean(values)), 1),
    }


def ivr_set() -> list[tuple[str, np.ndarray, str]]:
    """The reporting half of the Asterisk IVR prompts: (name, 8 kHz int16, transcript)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from asr_accuracy import load_pcm, manifest

    rows = sorted(
        (r for r in manifest() if r["source"] == "asterisk-core-sounds-en" and r["transcript"]),
        key=lambda r: r["path"],
    )
    out = []
    for r in rows[1::2]:
        pcm = load_pcm(r["path"])
        out.append((Path(r["path"]).name, pcm, r["transcript"]))
    return out


def wer(pairs: list[tuple[str, str]]) -> float:
    """Word error rate over (reference, hypothesis) pairs (bench/asr_accuracy.py's words)."""
    from asr_accuracy import edit_distance, words_for_wer

    errors = sum(edit_distance(words_for_wer(r), words_for_wer(h)) for r, h in pairs)
    return round(errors / max(1, sum(len(words_for_wer(r)) for r, _ in pairs)), 4)


def main_ivr(
    args: argparse.Namespace, engine: Counting, base: SessionConfig, vad: VadConfig
) -> int:
    """``--ivr``: transcripts and WER with the early decode off and on (module docstring)."""
    conditions = {"clean": 0.0, "hiss 20 dB": None}
    result: dict[str, Any] = {
        "what": "final transcripts with the early decode off and on, Asterisk IVR prompts "
        "(third-party human speech, 8 kHz; the reporting half: odd positions by name), as "
        "free answers, Whisper tiny.en in-process, not paced",
        "pause_ms": args.pause_ms,
        "conditions": {},
    }
    data = ivr_set()[: args.limit or None]
    for name, noise in conditions.items():
        pairs: dict[str, list[tuple[str, str]]] = {"off": [], "on": []}
        differing = []
        for n, (wav, pcm, ref) in enumerate(data):
            rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
            noise_rms = rms / 10.0 if noise is None else noise  # 20 dB below the speech
            heard = {}
            for mode in ("off", "on") if n % 2 == 0 else ("on", "off"):
                cfg = replace(base, speculative_decode_ms=0.0 if mode == "off" else args.pause_ms)
                got = asyncio.run(play(pcm, engine, cfg, vad, pace=False, noise_rms=noise_rms))
                heard[mode] = " ".join(got.texts)
                pairs[mode].append((ref, heard[mode]))
            if heard["off"] != heard["on"]:
                differing.append({"recording": wav, "ref": ref, **heard})
            print(f"{name} {n + 1}/{len(data)} {wav}", file=sys.stderr)
        result["conditions"][name] = {
            "recordings": len(data),
            "transcripts_differing": len(differing),
            "wer_off": wer(pairs["off"]),
            "wer_on": wer(pairs["on"]),
            "differing": differing,
        }
    out = (
        args.out if args.out != DEFAULT_OUT else ROOT / "bench" / "results" / "speculation_ivr.json"
    )
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "differing"}
                      for k, v in result["conditions"].items()}, indent=2))  # fmt: skip
    return 0


DEFAULT_OUT = ROOT / "bench" / "results" / "speculation.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="only the first N recordings")
    ap.add_argument("--pause-ms", type=float, default=64.0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--ivr", action="store_true", help="third-party IVR prompts (see above)")
    args = ap.parse_args()
    settings = load_settings()
    vad = section_to(VadConfig, settings, "vad")
    base = section_to(SessionConfig, settings, "session")
    engine = Counting(load_engine(settings))
    if args.ivr:
        return main_ivr(args, engine, base, vad)
    wavs = sorted((ROOT / "tests" / "audio").glob("*/[0-9][0-9].wav"))
    if args.limit:
        wavs = wavs[: args.limit]
    modes = {"off": 0.0, "on": args.pause_ms}
    got: dict[str, list[Heard]] = {m: [] for m in modes}
    load = [os.getloadavg()[0]]
    names: list[str] = []
    for n, wav in enumerate(wavs):
        audio, rate = sf.read(str(wav), dtype="int16")
        if rate != 8000 or audio.ndim != 1:
            continue
        names.append(f"{wav.parent.name}/{wav.name}")
        for mode in ("off", "on") if n % 2 == 0 else ("on", "off"):
            cfg = replace(base, speculative_decode_ms=modes[mode])
            got[mode].append(asyncio.run(play(audio, engine, cfg, vad)))
        load.append(os.getloadavg()[0])
        print(f"{n + 1}/{len(wavs)} {wav.parent.name}/{wav.name}", file=sys.stderr)
    differing = [
        {"recording": name, "off": a.texts, "on": b.texts}
        for name, a, b in zip(names, got["off"], got["on"], strict=True)
        if a.texts != b.texts
    ]
    result: dict[str, Any] = {
        "what": "wait from the endpoint to the final transcript, real-time playback of every "
        "tests/audio recording as a free answer, Whisper tiny.en in-process",
        "pause_ms": args.pause_ms,
        "recordings": len(got["off"]),
        "transcripts_differing": len(differing),
        "differing": differing,
        "loadavg_1m_mean": round(float(np.mean(load)), 2),
    }
    for mode in modes:
        heard = got[mode]
        turns = sum(len(h.texts) for h in heard)
        result[mode] = {
            "turns": turns,
            "wait_after_endpoint_ms": stats([w for h in heard for w in h.waits_ms]),
            "decodes_per_turn": round(sum(h.decodes for h in heard) / max(1, turns), 2),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
