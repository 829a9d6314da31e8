"""Small audio helpers the recognisers share (resampling and level), numpy/scipy only."""

from __future__ import annotations

from math import gcd

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

Float32Array = npt.NDArray[np.float32]


def to_float(pcm16: npt.NDArray[np.int16]) -> Float32Array:
    """int16 PCM -> float32 in [-1, 1)."""
    return (pcm16.astype(np.float32) / 32768.0).astype(np.float32)


def resample_float(x: Float32Array, from_rate: int, to_rate: int) -> Float32Array:
    """Polyphase resampling of float audio from ``from_rate`` to ``to_rate`` Hz."""
    if from_rate == to_rate or x.size == 0:
        return x.astype(np.float32, copy=False)
    g = gcd(from_rate, to_rate)
    return resample_poly(x, to_rate // g, from_rate // g).astype(np.float32)


def rms_dbfs(x: Float32Array) -> float:
    """RMS level of float audio in dBFS (-inf dB for digital silence, floored at -120)."""
    if x.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * np.log10(max(rms, 1e-6))
