"""Sample-rate conversion and sample-format conversion.

Rates are in Hz; any positive integer rate works (8000 for the line, 16000 for ASR engines,
22050 for the Piper voice). Conversion is polyphase FIR filtering
(:func:`scipy.signal.resample_poly`, Kaiser window), which low-passes before decimating, so
22050 -> 8000 Hz does not alias. Output length is ``ceil(n * to_rate / from_rate)``.

``int16`` is the pipeline's sample format; ``float32`` in [-1, 1) is what models take.
"""

from __future__ import annotations

from math import gcd

import numpy as np
import numpy.typing as npt

from voicebot.errors import AudioError

Int16Array = npt.NDArray[np.int16]
Float32Array = npt.NDArray[np.float32]


def to_float32(samples: npt.ArrayLike) -> Float32Array:
    """int16 samples to float32 in [-1, 1) (divided by 32768); float input is passed through."""
    arr = np.asarray(samples)
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32, copy=False)
    return (arr.astype(np.float32) / 32768.0).astype(np.float32)


def to_int16(samples: npt.ArrayLike) -> Int16Array:
    """float samples in [-1, 1] to int16 (rounded, clipped); int input is clipped to int16.

    NaN becomes 0; values beyond full scale are clipped rather than wrapped.
    """
    arr = np.asarray(samples)
    if np.issubdtype(arr.dtype, np.integer):
        return np.clip(arr, -32768, 32767).astype(np.int16)
    scaled = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0) * 32768.0
    return np.clip(np.rint(scaled), -32768, 32767).astype(np.int16)


def _ratio(from_rate: int, to_rate: int) -> tuple[int, int]:
    if from_rate <= 0 or to_rate <= 0:
        raise AudioError(f"sample rates must be positive, got {from_rate} -> {to_rate} Hz")
    g = gcd(int(from_rate), int(to_rate))
    return int(to_rate) // g, int(from_rate) // g


def resample(samples: npt.ArrayLike, from_rate: int, to_rate: int) -> npt.NDArray[np.generic]:
    """Convert a whole 1-D signal from ``from_rate`` to ``to_rate`` Hz.

    The output has the input's dtype: int16 in gives int16 out (rounded, clipped), float
    in gives float32 out. Equal rates return the input unchanged (as an array).
    """
    arr = np.asarray(samples)
    up, down = _ratio(from_rate, to_rate)
    if up == down or arr.size == 0:
        return arr
    from scipy.signal import resample_poly  # lazy: scipy costs 40 MB per call worker

    y = resample_poly(arr.astype(np.float64), up, down)
    if np.issubdtype(arr.dtype, np.integer):
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)
    return y.astype(np.float32)


def resampled_length(n: int, from_rate: int, to_rate: int) -> int:
    """Number of samples :func:`resample` returns for ``n`` input samples."""
    up, down = _ratio(from_rate, to_rate)
    return -(-n * up // down)


class StreamResampler:
    """Rate conversion for a stream that arrives in chunks (e.g. 20 ms line frames).

    Resampling each chunk alone would put a filter edge at every chunk boundary; this keeps
    a little input context instead, so the concatenated output matches :func:`resample` of
    the whole signal (to within 1 LSB). The price is a fixed delay of ``delay_samples`` input
    samples (under 4 ms for 8000 <-> 16000 Hz, about 20 ms for 22050 -> 8000 Hz): the last
    samples come out only with :meth:`flush`.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self.up, self.down = _ratio(from_rate, to_rate)
        half_filter = 10 * max(self.up, self.down) // self.up + 2  # resample_poly's half length
        step = self.down  # context must be a multiple of ``down`` input samples
        self.context = -(-half_filter // step) * step
        self.delay_samples = self.context
        self._buf = np.zeros(self.context, dtype=np.float64)
        self._reset()

    def _reset(self) -> None:
        self._buf = np.zeros(self.context, dtype=np.float64)  # left context: zeros at start

    def _emit(self, x: npt.NDArray[np.float64], stop_in: int) -> npt.NDArray[np.float64]:
        # x = [left context (self.context)] + pending; emit outputs for inputs up to stop_in
        from scipy.signal import resample_poly  # lazy: scipy costs 40 MB per call worker

        y = resample_poly(x, self.up, self.down)
        first = self.context * self.up // self.down
        last = first + (stop_in - self.context) * self.up // self.down
        return y[first:last]

    def process(self, chunk: npt.ArrayLike) -> npt.NDArray[np.generic]:
        """Feed a chunk; returns the output ready so far (int16 in -> int16 out)."""
        arr = np.asarray(chunk)
        is_int = np.issubdtype(arr.dtype, np.integer)
        if self.up == self.down:
            return arr
        x = np.concatenate([self._buf, arr.astype(np.float64)])
        # inputs that have a full right context and are a whole number of ``down`` blocks
        ready = (len(x) - 2 * self.context) // self.down * self.down
        if ready <= 0:
            self._buf = x
            out = np.zeros(0)
        else:
            stop = self.context + ready
            out = self._emit(x[: stop + self.context], stop)
            self._buf = x[stop - self.context :]
        return self._cast(out, is_int)

    def flush(self, dtype: type = np.int16) -> npt.NDArray[np.generic]:
        """Return the delayed tail (the stream ended); the resampler starts afresh after."""
        pending = len(self._buf) - self.context
        if pending <= 0 or self.up == self.down:
            self._reset()
            return np.zeros(0, dtype=dtype)
        n_out = -(-pending * self.up // self.down)
        x = np.concatenate([self._buf, np.zeros(self.context + self.down, dtype=np.float64)])
        from scipy.signal import resample_poly  # lazy: scipy costs 40 MB per call worker

        y = resample_poly(x, self.up, self.down)
        first = self.context * self.up // self.down
        out = y[first : first + n_out]
        self._reset()
        return self._cast(out, np.issubdtype(np.dtype(dtype), np.integer))

    @staticmethod
    def _cast(y: npt.NDArray[np.float64], is_int: bool) -> npt.NDArray[np.generic]:
        if is_int:
            return np.clip(np.rint(y), -32768, 32767).astype(np.int16)
        return y.astype(np.float32)
