"""Small audio helpers the recognisers share (resampling and level), numpy/scipy only."""

from __future__ import annotations

from math import gcd

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]
WHISPER_RATE = 16000
"""Whisper's input rate, Hz."""


def to_float(pcm16: npt.NDArray[np.int16]) -> Float32Array:
    """int16 PCM -> float32 in [-1, 1)."""
    return (pcm16.astype(np.float32) / 32768.0).astype(np.float32)


def resample_float(x: Float32Array, from_rate: int, to_rate: int) -> Float32Array:
    """Polyphase resampling of float audio from ``from_rate`` to ``to_rate`` Hz."""
    if from_rate == to_rate or x.size == 0:
        return x.astype(np.float32, copy=False)
    # imported here: a call worker's hearing uses this module's pause finder (voicebot.
    # digit_pieces) and must not load scipy (tests/test_worker_imports.py)
    from scipy.signal import resample_poly

    g = gcd(from_rate, to_rate)
    return resample_poly(x, to_rate // g, from_rate // g).astype(np.float32)


def rms_dbfs(x: Float32Array) -> float:
    """RMS level of float audio in dBFS (-inf dB for digital silence, floored at -120)."""
    if x.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * np.log10(max(rms, 1e-6))


def voiced_seconds(audio: Float32Array, rate: int = 16000) -> float:
    """Seconds of 20 ms frames within 30 dB of the loudest frame (a rough speech time)."""
    hop = rate // 50
    n = audio.size // hop
    if n == 0:
        return 0.0
    frames = audio[: n * hop].reshape(n, hop)
    level = 10 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-10)
    return float(np.sum(level > level.max() - 30.0)) / 50.0


def pause_spans(
    audio: Float32Array, rate: int = 16000, min_gap_s: float = 0.1, margin_s: float = 0.05
) -> list[tuple[int, int]]:
    """Sample spans of speech separated by pauses of at least ``min_gap_s`` (20 ms frames
    more than 30 dB below the loudest one), each widened by ``margin_s``."""
    hop = rate // 50
    n = audio.size // hop
    if n == 0:
        return []
    frames = audio[: n * hop].reshape(n, hop)
    level = 10 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-10)
    voiced = np.flatnonzero(level > level.max() - 30.0)
    spans: list[list[int]] = []
    gap = max(1, int(round(min_gap_s * 50)))
    for f in voiced:
        if spans and f - spans[-1][1] <= gap:
            spans[-1][1] = int(f)
        else:
            spans.append([int(f), int(f)])
    pad = int(margin_s * rate)
    return [(max(0, a * hop - pad), min(audio.size, (b + 1) * hop + pad)) for a, b in spans]
