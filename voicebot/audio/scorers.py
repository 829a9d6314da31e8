"""Per-frame speech scores (0..1) for the segmenter.

Two scorers, one protocol (:class:`FrameScorer`): each has a ``rate`` (Hz) and a fixed
``frame_samples``, and scores consecutive frames of int16 samples, keeping its own state.

* :class:`EnergyScorer`: no model. Band-passes to the telephone speech band (200-3400 Hz),
  measures each frame's level in dBFS and compares it with an adaptive noise floor (the
  quietest frame of the last ``floor_window_ms``), so steady line noise, hum and comfort
  noise do not count as speech. Fast and predictable; fooled by babble, music and bursts.
* :class:`SileroScorer`: the Silero VAD v5/v6 neural model (MIT) run with onnxruntime, from the
  ``.onnx`` file the ``silero-vad`` package ships (loaded without torch). Works natively at
  8000 Hz (256-sample = 32 ms frames) and 16000 Hz (512 = 32 ms). Much more robust to noise.
"""

from __future__ import annotations

import importlib.util
from collections import deque
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from voicebot.errors import AudioError, ModelError

Int16Array = npt.NDArray[np.int16]


class FrameScorer(Protocol):
    """Scores frames of ``frame_samples`` int16 samples at ``rate`` Hz, in stream order."""

    rate: int
    frame_samples: int

    def score(self, frame: Int16Array) -> float:
        """Speech probability-like score of the next frame, 0..1."""
        ...

    def reset(self) -> None:
        """Forget the stream (a new call or a new file)."""
        ...

    def segment_ended(self) -> None:
        """A speech segment just ended (the detector saw its endpoint): drop what only
        mattered inside it (a model's recurrent state); keep what describes the line."""
        ...


class EnergyScorer:
    """Adaptive-noise-floor energy scorer (see the module docstring).

    Score = logistic((level - floor - snr_db) / slope_db), 0 when level < min_dbfs.
    A frame at ``snr_db`` above the floor scores 0.5.
    """

    def __init__(
        self,
        rate: int = 8000,
        frame_ms: float = 20.0,
        snr_db: float = 6.0,
        min_dbfs: float = -50.0,
        floor_window_ms: float = 2000.0,
        slope_db: float = 3.0,
    ) -> None:
        """
        Args:
            rate: sample rate, Hz.
            frame_ms: frame length, ms.
            snr_db: level above the noise floor that scores 0.5, dB.
            min_dbfs: frames quieter than this score 0, dBFS.
            floor_window_ms: the noise floor is the quietest frame of this much history, ms.
            slope_db: how many dB take the score from 0.5 to 0.73, dB.
        """
        if rate <= 0:
            raise AudioError(f"energy scorer: sample rate must be positive, got {rate} Hz")
        self.rate = rate
        self.frame_samples = max(1, int(round(rate * frame_ms / 1000.0)))
        self.snr_db = snr_db
        self.min_dbfs = min_dbfs
        self.slope_db = slope_db
        self._window = max(1, int(round(floor_window_ms / frame_ms)))
        # scipy is imported here, not at the top: a call worker using Silero never pays for it
        from scipy.signal import butter, sosfilt, sosfilt_zi

        self._sosfilt, self._sosfilt_zi = sosfilt, sosfilt_zi
        high = min(3400.0, 0.45 * rate)
        self._sos = butter(4, [200.0, high], btype="bandpass", fs=rate, output="sos")
        self.reset()

    def segment_ended(self) -> None:
        """Nothing to drop: the noise floor describes the line, not the segment."""

    def reset(self) -> None:
        self._zi = self._sosfilt_zi(self._sos) * 0.0
        self._levels: deque[float] = deque(maxlen=self._window)
        self.floor_db = float("nan")
        """Current noise floor estimate, dBFS (NaN before the first frame)."""
        self.level_db = float("nan")
        """Level of the last frame, dBFS."""

    def score(self, frame: Int16Array) -> float:
        x = np.asarray(frame, dtype=np.float64) / 32768.0
        y, self._zi = self._sosfilt(self._sos, x, zi=self._zi)
        power = float(np.mean(y * y)) if len(y) else 0.0
        level = 10.0 * np.log10(power + 1e-10)  # >= -100 dBFS
        self._levels.append(level)
        floor = min(self._levels)
        self.level_db, self.floor_db = level, floor
        if level < self.min_dbfs:
            return 0.0
        z = (level - floor - self.snr_db) / self.slope_db
        return float(1.0 / (1.0 + np.exp(-z)))


def bundled_silero_model() -> Path | None:
    """Path of ``silero_vad.onnx`` inside the installed ``silero-vad`` package, or None.

    The package's Python code imports torch; only its data file is used here, located
    without importing the package.
    """
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / "silero_vad.onnx"
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=4)
def _load_session(path: Path) -> Any:
    """One onnxruntime session per model file, shared by every call's scorer.

    Loading takes 0.2-0.4 s; ``run`` is thread-safe and each scorer keeps its own state.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelError(
            "onnxruntime is not installed; Silero VAD needs it",
            hint="pip install onnxruntime, or set vad.scorer: energy",
        ) from exc
    opts = ort.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"Silero VAD model {path} cannot be loaded: {exc}") from exc


QUIET_DBFS = -60.0
"""Silero's quiet gate (opt-in, ``vad.silero_quiet_dbfs``): a frame below this RMS level
(dBFS) is line silence (the ASR's ``asr.min_rms_dbfs`` does not decode audio this quiet)."""
QUIET_RUN_FRAMES = 8
"""... once this many quiet frames in a row (256 ms) went through the model, the following
quiet frames score 0 without it, the model's state left as those frames made it."""


class SileroScorer:
    """Silero VAD (ONNX) speech probability per 32 ms frame at 8000 or 16000 Hz.

    The model is stateful (an LSTM state and the previous frame's last 32/64 samples as
    context); both are kept here and cleared by :meth:`reset`. One frame costs about
    0.2 ms of one CPU core (0.6 % of a core per call); the model is loaded once per process.

    Quiet gate: after ``QUIET_RUN_FRAMES`` frames in a row below ``quiet_dbfs`` (RMS), the
    next quiet frames score 0 without running the model (a call is mostly the caller
    listening: on a quiet line this skips most of the model's runs). Short pauses inside
    speech still go through the model. Off unless ``quiet_dbfs`` is given (``QUIET_DBFS``):
    the VAD evaluation keeps its accuracy, but the replay suite loses 3 of 41 cases with it
    (speech starts move by a 32 ms frame, and Whisper tiny.en hears some turns differently).
    """

    def __init__(
        self,
        rate: int = 8000,
        model_path: str | Path | None = None,
        quiet_dbfs: float | None = None,
    ) -> None:
        if rate not in (8000, 16000):
            raise AudioError(
                f"Silero VAD works at 8000 or 16000 Hz, not {rate} Hz",
                hint="resample the line audio first, or use vad.scorer: energy",
            )
        path = Path(model_path) if model_path else bundled_silero_model()
        if path is None:
            raise ModelError(
                "Silero VAD model not found: the silero-vad package is not installed",
                hint="pip install --no-deps silero-vad, or set vad.scorer: energy",
            )
        if not path.is_file():
            raise ModelError(f"Silero VAD model not found: {path}", hint="check vad.silero_model")
        self._session = _load_session(path.resolve())
        self.model_path = path
        self.rate = rate
        self.frame_samples = 256 if rate == 8000 else 512
        self._context_samples = 32 if rate == 8000 else 64
        self._sr = np.array(rate, dtype=np.int64)
        # mean square of float samples in [-1, 1) at the gate's level; None = no gate
        self._quiet_power = None if quiet_dbfs is None else 10.0 ** (quiet_dbfs / 10.0)
        self.skipped = 0
        """Frames scored by the quiet gate without the model (since the last reset)."""
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, self._context_samples), dtype=np.float32)
        self._quiet_run = 0
        self.skipped = 0

    def segment_ended(self) -> None:
        """Clear the LSTM state after each segment. Carried on through a call, the state
        left by one utterance and the silence after it made Silero score a quiet next
        answer 0.03-0.2 instead of 0.6-0.9 (a spoken PIN lost its first digit, 0.75 s)."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)

    def score(self, frame: Int16Array) -> float:
        x = np.asarray(frame, dtype=np.float32).reshape(1, -1) / 32768.0
        if x.shape[1] != self.frame_samples:
            raise AudioError(
                f"Silero VAD takes {self.frame_samples}-sample frames, got {x.shape[1]}"
            )
        if self._quiet_power is not None:
            if float(np.dot(x[0], x[0])) < self._quiet_power * x.shape[1]:
                self._quiet_run += 1
                if self._quiet_run > QUIET_RUN_FRAMES:
                    self._context = x[:, -self._context_samples :]
                    self.skipped += 1
                    return 0.0
            else:
                self._quiet_run = 0
        inp = np.concatenate([self._context, x], axis=1)
        out, self._state = self._session.run(
            None, {"input": inp, "state": self._state, "sr": self._sr}
        )
        self._context = inp[:, -self._context_samples :]
        return float(out[0, 0])
