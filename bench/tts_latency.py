"""Piper TTS time to first audio and real-time factor; peak memory of ASR + TTS loaded.

    nice -n 10 python bench/tts_latency.py [--repeats 3] [--threads N]
        [--out bench/results/tts_latency.json]

* first audio: from calling ``synthesize(text)`` to the first sentence's 8 kHz audio in
  hand, for bot replies whose first sentence is short (target < 150 ms), without the cache;
  and from the cache (fixed prompts).
* real-time factor: synthesis seconds / audio seconds over every sentence.
* memory: resident set size (RSS) of this process after loading the default ASR engine
  (Whisper tiny.en) and the Piper voice, and its peak after a decode and a synthesis.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicebot.config import load_settings  # noqa: E402
from voicebot.tts import PiperSpeaker, tts_config  # noqa: E402

REPLIES = [
    "Hello. Thanks for calling Brightline Energy and Telecom. How can I help you today?",
    "Sure. Can I have your account number, please?",
    "Thank you. I found your account.",
    "Of course. I'm putting you through to billing now.",
    "Sorry, I didn't catch that. Could you say it again?",
    "Got it. Your balance is £42.50, due on the 3rd of December.",
    "Okay. Is there anything else I can help with?",
    "Goodbye. Thanks for calling.",
    "One moment please. Let me check that for you.",
    "Right. Your next bill is ready.",
]


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="passes over the replies")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime threads override")
    ap.add_argument("--no-asr", action="store_true", help="skip loading the ASR engine")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tts_latency.json")
    args = ap.parse_args()

    settings = load_settings()
    memory: dict[str, float] = {"start_mb": round(rss_mb(), 1)}
    asr = None
    if not args.no_asr:
        from voicebot.asr import load_engine

        t0 = time.perf_counter()
        asr = load_engine(settings)
        memory["asr_load_s"] = round(time.perf_counter() - t0, 2)
        memory["after_asr_mb"] = round(rss_mb(), 1)
    cfg = tts_config(settings)
    if args.threads:
        cfg = replace(cfg, threads=args.threads)
    t0 = time.perf_counter()
    speaker = PiperSpeaker(cfg, cache_dir=Path(tempfile.mkdtemp(prefix="tts-bench-")))
    memory["tts_load_s"] = round(time.perf_counter() - t0, 2)
    memory["after_tts_mb"] = round(rss_mb(), 1)

    list(speaker.synthesize("Warming up.", use_cache=False))  # first call loads espeak data
    first_ms: list[float] = []
    synth_s = audio_s = 0.0
    first_words: list[int] = []
    for _ in tqdm(range(args.repeats), desc="passes", unit="pass"):
        for text in REPLIES:
            t0 = time.perf_counter()
            for chunk in speaker.synthesize(text, use_cache=False):
                if chunk.index == 0:
                    first_ms.append((time.perf_counter() - t0) * 1000)
                    first_words.append(len(chunk.text.split()))
                synth_s += chunk.synth_s
                audio_s += chunk.duration
    # cache: the second time a fixed prompt is said
    for text in REPLIES:
        list(speaker.synthesize(text))
    cached_ms = []
    for text in REPLIES:
        t0 = time.perf_counter()
        next(iter(speaker.synthesize(text)))
        cached_ms.append((time.perf_counter() - t0) * 1000)
    if asr is not None:
        pcm = speaker.speak("My account number is 4 0 7 1 2 3 9 5.")
        asr.transcribe(pcm, "digits")
    memory["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    result: dict[str, Any] = {
        "voice": speaker.model_path.name,
        "sample_rate": speaker.sample_rate,
        "threads": cfg.threads,
        "machine": {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)},
        "first_audio_ms": {
            "replies": len(first_ms),
            "first_sentence_words_median": float(np.median(first_words)),
            "p50": round(float(np.percentile(first_ms, 50)), 1),
            "p95": round(float(np.percentile(first_ms, 95)), 1),
            "max": round(max(first_ms), 1),
        },
        "cached_first_audio_ms_p50": round(float(np.percentile(cached_ms, 50)), 2),
        "rtf": round(synth_s / audio_s, 3),
        "memory": memory,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    fa = result["first_audio_ms"]
    print(
        f"Piper {result['voice']} at {speaker.sample_rate} Hz, {cfg.threads} thread(s): "
        f"first audio p50 {fa['p50']:.0f} ms p95 {fa['p95']:.0f} ms (first sentence median "
        f"{fa['first_sentence_words_median']:.0f} words); "
        f"cached {result['cached_first_audio_ms_p50']:.1f} ms; RTF {result['rtf']:.3f}"
    )
    after_asr = memory.get("after_asr_mb", "-")
    print(
        f"RSS: start {memory['start_mb']} MB, + ASR {after_asr} MB, "
        f"+ TTS {memory['after_tts_mb']} MB, peak {memory['peak_mb']} MB"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
