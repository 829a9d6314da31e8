"""Voice-activity detection on a stream of PCM: framing + a scorer + the pure segmenter.

:class:`SpeechDetector` takes line audio in chunks of any size and returns, in order,
:class:`~voicebot.events.SpeechStarted`, :class:`SpeechChunk` (the segment's audio, the
pre-roll first, for the ASR stream), optionally :class:`~voicebot.events.SpeechPaused`
(``pause_ms``), and :class:`~voicebot.events.SpeechEnded`. Times are
seconds of audio fed so far plus ``start_offset_s`` (the call's clock), never a wall clock.

Settings come from the ``vad`` section (:class:`VadConfig`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from voicebot.audio.resample import to_int16
from voicebot.audio.scorers import EnergyScorer, FrameScorer, SileroScorer, bundled_silero_model
from voicebot.audio.segmenter import SpeechSegmenter
from voicebot.errors import ConfigError
from voicebot.events import SpeechEnded, SpeechPaused, SpeechStarted

Int16Array = npt.NDArray[np.int16]
SCORE_HISTORY = 20_000
"""Frame scores a detector keeps (about 10 minutes of 32 ms frames)."""


@dataclass(frozen=True)
class VadConfig:
    """Settings section ``vad`` (see ``voicebot/defaults/voicebot.yml``).

    Attributes:
        scorer: ``silero`` | ``energy`` | ``auto`` (silero when its model is installed).
        silero_model: path to a Silero VAD ``.onnx``; "" = the silero-vad package's own.
        threshold: frame speech score (0..1) that counts as speech.
        min_speech_ms: speech needed before a segment starts, ms.
        end_silence_ms: silence that ends a segment (endpoint), ms.
        pause_ms: silence that emits an early SpeechPaused hint, ms (0 = off).
        pre_roll_ms: audio kept before the start and sent with the segment, ms.
        max_speech_ms: a segment is cut after this long, ms.
        energy_snr_db: energy scorer: dB above the noise floor that scores 0.5.
        energy_min_dbfs: energy scorer: frames below this level never count, dBFS.
        silero_quiet_dbfs: Silero scorer: after 256 ms of frames below this RMS level, the
            next ones score 0 without running the model, dBFS (0 = always run it: the
            default; -60 saves most runs but changes 3 of 41 replay verdicts).
    """

    scorer: Literal["silero", "energy", "auto"] = "auto"
    silero_model: str = ""
    threshold: float = 0.5
    min_speech_ms: float = 100.0
    end_silence_ms: float = 200.0
    pause_ms: float = 0.0
    pre_roll_ms: float = 200.0
    max_speech_ms: float = 20000.0
    energy_snr_db: float = 6.0
    energy_min_dbfs: float = -50.0
    silero_quiet_dbfs: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"settings section 'vad': threshold {self.threshold} not in (0, 1)")
        for name in ("min_speech_ms", "end_silence_ms", "max_speech_ms"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"settings section 'vad': {name} must be > 0 ms")
        if self.pause_ms < 0 or (self.pause_ms and self.pause_ms >= self.end_silence_ms):
            raise ConfigError("settings section 'vad': pause_ms must be 0 or below end_silence_ms")
        if self.pre_roll_ms < 0:
            raise ConfigError("settings section 'vad': pre_roll_ms must be >= 0 ms")


def make_scorer(config: VadConfig, rate: int) -> FrameScorer:
    """The frame scorer the config names, for audio at ``rate`` Hz.

    ``auto`` picks Silero when its model file is there and ``rate`` is 8000 or 16000 Hz,
    else the energy scorer.
    """
    kind = config.scorer
    if kind == "auto":
        has_model = bool(config.silero_model) or bundled_silero_model() is not None
        kind = "silero" if has_model and rate in (8000, 16000) else "energy"
    if kind == "silero":
        quiet = config.silero_quiet_dbfs if config.silero_quiet_dbfs < 0 else None
        return SileroScorer(rate, config.silero_model or None, quiet_dbfs=quiet)
    return EnergyScorer(rate, snr_db=config.energy_snr_db, min_dbfs=config.energy_min_dbfs)


def make_segmenter(
    config: VadConfig, frame_ms: float, start_offset_s: float = 0.0
) -> SpeechSegmenter:
    """A :class:`SpeechSegmenter` with the config's thresholds for frames of ``frame_ms``."""
    return SpeechSegmenter(
        frame_ms=frame_ms,
        threshold=config.threshold,
        min_speech_ms=config.min_speech_ms,
        end_silence_ms=config.end_silence_ms,
        pause_ms=config.pause_ms,
        pre_roll_ms=config.pre_roll_ms,
        max_speech_ms=config.max_speech_ms,
        start_offset_s=start_offset_s,
    )


@dataclass(eq=False)
class SpeechChunk:
    """Audio inside a speech segment (pre-roll included), in stream order.

    Attributes:
        time_s: time of the chunk's first sample, s.
        samples: int16 samples at the detector's rate.
    """

    time_s: float
    samples: Int16Array


DetectorOutput = SpeechStarted | SpeechChunk | SpeechPaused | SpeechEnded


@dataclass
class SpeechDetector:
    """PCM chunks in, segment events and segment audio out (see the module docstring)."""

    config: VadConfig
    rate: int = 8000
    """Sample rate of the audio fed, Hz."""
    scorer: FrameScorer | None = None
    """Frame scorer; None = :func:`make_scorer` from the config."""
    start_offset_s: float = 0.0
    """Session time of the first sample fed, s."""

    segmenter: SpeechSegmenter = field(init=False)
    scores: deque[float] = field(default_factory=lambda: deque(maxlen=SCORE_HISTORY), init=False)
    """The last frames' scores (up to ``SCORE_HISTORY``), for plots and tuning."""
    _pending: Int16Array = field(init=False)
    _history: deque[Int16Array] = field(init=False)

    def __post_init__(self) -> None:
        if self.scorer is None:
            self.scorer = make_scorer(self.config, self.rate)
        self.frame_samples = self.scorer.frame_samples
        self.frame_ms = 1000.0 * self.frame_samples / self.rate
        self.segmenter = make_segmenter(self.config, self.frame_ms, self.start_offset_s)
        self._pre_roll_frames = int(np.ceil(self.config.pre_roll_ms / self.frame_ms))
        self._max_frames = int(np.ceil(self.config.max_speech_ms / self.frame_ms))
        self._pending = np.zeros(0, dtype=np.int16)
        self._history = deque()  # pre-roll + the frames of a start not yet confirmed

    @property
    def speaking(self) -> bool:
        """Whether a speech segment is open."""
        return self.segmenter.speaking

    def reset(self, start_offset_s: float | None = None) -> None:
        """Start a new stream (scorer state, segmenter and buffers cleared)."""
        if start_offset_s is not None:
            self.start_offset_s = start_offset_s
        assert self.scorer is not None
        self.scorer.reset()
        self.segmenter.reset(self.start_offset_s)
        self.scores.clear()
        self._pending = np.zeros(0, dtype=np.int16)
        self._history.clear()

    def feed(self, pcm: npt.ArrayLike) -> list[DetectorOutput]:
        """Take the next samples (any count; int16, or float in [-1, 1]); return what they
        completed, in order. The samples are copied: the caller may reuse its buffer."""
        assert self.scorer is not None
        if isinstance(pcm, np.ndarray) and pcm.dtype == np.int16:
            data = pcm.reshape(-1)  # the line's frames: no conversion (copied below)
        else:
            data = to_int16(np.array(pcm).reshape(-1))  # converts float, clips int
        n = self.frame_samples
        if len(self._pending) + len(data) < n:  # most 20 ms frames: not a whole 32 ms yet
            self._pending = np.concatenate((self._pending, data))
            return []
        buf = np.concatenate((self._pending, data))  # a new array: the caller's is not kept
        whole = len(buf) // n * n
        self._pending = buf[whole:]
        out: list[DetectorOutput] = []
        for pos in range(0, whole, n):
            frame = buf[pos : pos + n]
            index = self.segmenter.frames
            score = self.scorer.score(frame)
            self.scores.append(score)
            self._history.append(frame)
            pending = self.segmenter.pending_start
            event = self.segmenter.process(score)
            # keep the pre-roll before a start run, and the run itself, for the SpeechStarted
            keep = self._pre_roll_frames + (index + 1 - pending if pending is not None else 1)
            while len(self._history) > min(keep, self._max_frames) + 1:
                self._history.popleft()
            if isinstance(event, SpeechStarted):
                offset = event.audio_start_s - self.start_offset_s
                first = max(0, int(round(offset * 1000.0 / self.frame_ms)))
                frames = list(self._history)[-(index + 1 - first) :]
                audio_start = self.segmenter.time_at(index + 1 - len(frames))
                if audio_start > event.audio_start_s + 1e-9:  # longer than max_speech_ms
                    event = replace(event, audio_start_s=audio_start)
                out.append(event)
                out.append(SpeechChunk(audio_start, np.concatenate(frames)))
            elif isinstance(event, SpeechEnded):
                self.scorer.segment_ended()
                out.append(event)
            elif isinstance(event, SpeechPaused):
                out.append(SpeechChunk(self.segmenter.time_at(index), frame.copy()))
                out.append(event)
            elif self.segmenter.speaking:
                out.append(SpeechChunk(self.segmenter.time_at(index), frame.copy()))
        return out

    def end_early(self, paused: SpeechPaused) -> SpeechEnded | None:
        """End the segment ``paused`` belongs to before its endpoint silence (see
        :meth:`SpeechSegmenter.end_if_unchanged`); None when speech resumed or it ended."""
        ended = self.segmenter.end_if_unchanged(paused)
        if ended is not None:
            assert self.scorer is not None
            self.scorer.segment_ended()
        return ended

    def flush(self) -> list[DetectorOutput]:
        """The stream ended: close an open segment."""
        event = self.segmenter.flush()
        return [event] if event else []


def detect_segments(
    samples: npt.ArrayLike, rate: int, config: VadConfig, scorer: FrameScorer | None = None
) -> list[SpeechEnded]:
    """Segments of a whole recording (offline helper for tests and benchmarks)."""
    detector = SpeechDetector(config, rate, scorer)
    if scorer is not None:
        scorer.reset()
    events = detector.feed(samples) + detector.flush()
    return [e for e in events if isinstance(e, SpeechEnded)]
