"""Measure the VAD segmenter on real speech mixed with noise: missed, split, false starts.

Each utterance from the shared evaluation set (``../shared/eval/audio``: fsdd spoken
digits, Asterisk IVR prompts, Speech Commands words) is put in a call-like stream:
1.5 s of background, the utterance, 1.5 s of background; the background is mixed in at a
given SNR (relative to the utterance's active speech level) and the stream goes through a
G.711 µ-law round trip, as on a phone line. The reference speech span is where the clean
utterance is within 35 dB of its loudest 20 ms frame.

Per condition and scorer it counts, over utterances:
  missed   no segment overlaps the reference span
  split    more than one segment overlaps it (for single words an error; for multi-sentence
           prompts a pause longer than ``end_silence_ms`` also splits)
  false    segments that overlap no speech (started by noise alone); for the ``silent``
           kind (files of digital silence in the prompt set) every segment is false
and the endpoint delay (SpeechEnded decision time - reference end), median and p95, ms.
Noise-only clips (Speech Commands noise/silence, Asterisk tones, synthetic clicks) count
false starts alone.

Run: ``python -m voicebot.audio.vad_eval [--eval-dir DIR] [--digits N] [--prompts N]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, sosfilt

from voicebot.audio import codecs
from voicebot.audio.vad import VadConfig, detect_segments, make_scorer
from voicebot.audio.wavio import load_audio

RATE = 8000
PAD_S = 1.5
Int16Array = npt.NDArray[np.int16]


@dataclass(frozen=True)
class Utterance:
    name: str
    kind: str  # digit | prompt | word
    samples: Int16Array


@dataclass
class Result:
    """Counts for one (scorer, condition, utterance kind)."""

    scorer: str
    condition: str
    kind: str
    utterances: int = 0
    missed: int = 0
    split: int = 0
    false_starts: int = 0
    delays_ms: tuple[float, ...] = ()

    def row(self) -> dict[str, object]:
        d = np.array(self.delays_ms)
        p50 = round(float(np.median(d))) if len(d) else "-"
        p95 = round(float(np.percentile(d, 95))) if len(d) else "-"
        return {
            "scorer": self.scorer,
            "condition": self.condition,
            "kind": self.kind,
            "n": self.utterances,
            "missed": self.missed,
            "split": self.split,
            "false": self.false_starts,
            "endpoint_p50_ms": p50,
            "endpoint_p95_ms": p95,
        }


def default_eval_dir() -> Path:
    """``../shared/eval`` beside the project checkout."""
    return Path(__file__).resolve().parents[3] / "shared" / "eval"


def load_utterances(eval_dir: Path, digits: int, prompts: int, seed: int = 0) -> list[Utterance]:
    """A deterministic sample of real 8 kHz speech from the evaluation manifest."""
    manifest = eval_dir / "audio" / "manifest.tsv"
    with manifest.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    rng = np.random.default_rng(seed)
    fsdd = [r for r in rows if r["source"] == "fsdd"]
    ivr = [
        r
        for r in rows
        if r["source"].startswith("asterisk") and r["transcript_kind"].startswith("human")
    ]
    words = [
        r
        for r in rows
        if r["source"].startswith("speech_commands") and r["transcript_kind"] == "label"
    ]
    picked: list[tuple[dict[str, str], str]] = []
    for pool, n, kind in ((fsdd, digits, "digit"), (ivr, prompts, "prompt")):
        idx = rng.permutation(len(pool))[: min(n, len(pool))]
        picked += [(pool[i], kind) for i in sorted(idx)]
    picked += [(r, "word") for r in words]
    out = []
    for row, kind in picked:
        audio = load_audio(eval_dir / row["path"], rate=RATE)
        if np.abs(audio.samples.astype(np.int32)).max() < 100:
            kind = "silent"  # files of digital silence in the prompt set: no speech to find
        out.append(Utterance(Path(row["path"]).stem, kind, audio.samples))
    return out


def load_noise_clips(eval_dir: Path) -> list[tuple[str, Int16Array]]:
    """Non-speech clips: Speech Commands noise and silence, Asterisk tones, synthetic clicks."""
    clips = []
    base = eval_dir / "audio"
    for rel in (
        "speech_commands_tflm/noise_1000ms.wav",
        "speech_commands_tflm/silence_1000ms.wav",
        "asterisk_core_sounds_en/wav/beep.wav",
        "asterisk_core_sounds_en/wav/descending-2tone.wav",
    ):
        if (base / rel).is_file():
            clips.append((Path(rel).stem, load_audio(base / rel, rate=RATE).samples))
    rng = np.random.default_rng(5)
    clicks = (rng.standard_normal(3 * RATE) * 30).astype(np.int16)
    for at in (0.5, 1.2, 2.0):  # 10, 30 and 60 ms bursts of loud noise
        for k, ms in enumerate((10, 30, 60)):
            start = int((at + 0.2 * k) * RATE)
            n = RATE * ms // 1000
            clicks[start : start + n] = (rng.standard_normal(n) * 8000).astype(np.int16)
    clips.append(("clicks", clicks))
    return clips


def _frame_levels(x: Int16Array, frame: int = RATE // 50) -> npt.NDArray[np.float64]:
    n = len(x) // frame
    f = x[: n * frame].astype(np.float64).reshape(n, frame) / 32768.0
    return 10 * np.log10(np.mean(f * f, axis=1) + 1e-10)


def reference_span(x: Int16Array) -> tuple[float, float, float]:
    """(start s, end s, active level dBFS) of the speech in a clean utterance."""
    levels = _frame_levels(x)
    if len(levels) == 0:
        return 0.0, len(x) / RATE, -100.0
    active = np.nonzero(levels >= levels.max() - 35.0)[0]
    start, end = active[0] * 0.02, (active[-1] + 1) * 0.02
    power = np.mean(10 ** (levels[active] / 10))
    return start, end, float(10 * np.log10(power))


def _band(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    sos = butter(4, [300, 3400], btype="bandpass", fs=RATE, output="sos")
    return np.asarray(sosfilt(sos, x))


NoiseMaker = Callable[[int, np.random.Generator], npt.NDArray[np.float64]]


def noise_makers(eval_dir: Path, babble_from: Sequence[Utterance]) -> dict[str, NoiseMaker]:
    """Background generators (unit RMS): line hiss, real recorded noise, babble."""
    recorded = load_audio(
        eval_dir / "audio" / "speech_commands_tflm" / "noise_1000ms.wav", rate=RATE
    ).samples.astype(np.float64)
    voices = [u.samples.astype(np.float64) for u in babble_from]

    def unit(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return x / (np.sqrt(np.mean(x * x)) + 1e-9)

    def hiss(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        return unit(_band(rng.standard_normal(n)))

    def real(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        reps = np.tile(recorded, n // len(recorded) + 2)
        off = int(rng.integers(0, len(recorded)))
        return unit(reps[off : off + n])

    def babble(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        out = np.zeros(n)
        for _ in range(6):  # six talkers, each a chain of random digit recordings
            pos = int(rng.integers(0, RATE // 2))
            while pos < n:
                v = voices[int(rng.integers(0, len(voices)))]
                k = min(len(v), n - pos)
                out[pos : pos + k] += v[:k]
                pos += k + int(rng.integers(0, RATE // 10))
        return unit(out)

    return {"hiss": hiss, "noise": real, "babble": babble}


CONDITIONS: tuple[tuple[str, str | None, float], ...] = (
    ("clean", None, 0.0),
    ("hiss 20 dB", "hiss", 20.0),
    ("hiss 10 dB", "hiss", 10.0),
    ("hiss 5 dB", "hiss", 5.0),
    ("noise 10 dB", "noise", 10.0),
    ("babble 10 dB", "babble", 10.0),
)
"""(label, background, SNR dB) of each test condition."""


def make_stream(
    utt: Int16Array, noise: NoiseMaker | None, snr_db: float, rng: np.random.Generator
) -> tuple[Int16Array, float, float]:
    """The utterance in a padded, noisy, µ-law stream; returns (stream, ref start s, end s)."""
    start, end, level_db = reference_span(utt)
    pad = int(PAD_S * RATE)
    x = np.concatenate([np.zeros(pad), utt.astype(np.float64), np.zeros(pad)])
    floor = rng.standard_normal(len(x)) * 3.0  # the -80 dBFS floor of a real line
    x += floor
    if noise is not None:
        rms = 32768.0 * 10 ** ((level_db - snr_db) / 20)
        x += noise(len(x), rng) * rms
    pcm = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    line = codecs.ulaw_decode(codecs.ulaw_encode(pcm))
    return line, PAD_S + start, PAD_S + end


def evaluate(
    utterances: Sequence[Utterance],
    noise_clips: Sequence[tuple[str, Int16Array]],
    makers: dict[str, NoiseMaker],
    config: VadConfig,
    scorers: Sequence[str] = ("energy", "silero"),
    conditions: Sequence[tuple[str, str | None, float]] = CONDITIONS,
) -> list[Result]:
    """Run every scorer over every condition; see the module docstring for the counts."""
    results: list[Result] = []
    for scorer_name in scorers:
        cfg = replace(config, scorer=scorer_name)  # type: ignore[arg-type]
        scorer = make_scorer(cfg, RATE)
        for label, background, snr in conditions:
            rng = np.random.default_rng(1234)
            noise = makers[background] if background else None
            by_kind: dict[str, Result] = {}
            for utt in utterances:
                res = by_kind.setdefault(utt.kind, Result(scorer_name, label, utt.kind))
                stream, ref_start, ref_end = make_stream(utt.samples, noise, snr, rng)
                segs = detect_segments(stream, RATE, cfg, scorer)
                if utt.kind == "silent":
                    res.utterances += 1
                    res.false_starts += len(segs)
                    continue
                hits = [s for s in segs if s.start_s < ref_end and s.end_s > ref_start]
                res.utterances += 1
                res.false_starts += len(segs) - len(hits)
                if not hits:
                    res.missed += 1
                    continue
                if len(hits) > 1:
                    res.split += 1
                    continue
                res.delays_ms += (1000.0 * (hits[-1].time_s - ref_end),)
            results.extend(by_kind.values())
        # noise-only clips, padded like the utterances, at the clean condition
        res = Result(scorer_name, "noise only", "non-speech")
        rng = np.random.default_rng(99)
        for _name, clip in noise_clips:
            stream, _, _ = make_stream(clip, None, 0.0, rng)
            res.utterances += 1
            res.false_starts += len(detect_segments(stream, RATE, cfg, scorer))
        results.append(res)
    return results


def format_table(rows: Sequence[dict[str, object]]) -> str:
    """Rows as an aligned text table."""
    if not rows:
        return ""
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(str(r[k]).ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=default_eval_dir())
    parser.add_argument("--digits", type=int, default=150, help="fsdd utterances to use")
    parser.add_argument("--prompts", type=int, default=60, help="Asterisk prompts to use")
    parser.add_argument("--end-silence-ms", type=float, default=None)
    parser.add_argument("--scorers", default="energy,silero")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    config = VadConfig()
    if args.end_silence_ms is not None:
        config = replace(config, end_silence_ms=args.end_silence_ms)
    t0 = time.perf_counter()
    utterances = load_utterances(args.eval_dir, args.digits, args.prompts)
    babble_src = load_utterances(args.eval_dir, 60, 0, seed=77)
    makers = noise_makers(args.eval_dir, [u for u in babble_src if u.kind == "digit"])
    results = evaluate(
        utterances,
        load_noise_clips(args.eval_dir),
        makers,
        config,
        scorers=args.scorers.split(","),
    )
    rows = [r.row() for r in results]
    print(f"VAD segmenter, {asdict(config)}")
    print(format_table(rows))
    print(f"({time.perf_counter() - t0:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps({"config": asdict(config), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
