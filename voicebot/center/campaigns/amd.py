"""Answering-machine detection (AMD) from the first seconds of an answered outbound call.

A person who picks up says something short ("Hello?", "Yes, Anna speaking") and then waits;
an answering machine plays a long uninterrupted greeting, often ending with a beep. The
detector reads the callee's audio frame by frame (PCM16, 8 kHz, 20 ms) and decides:

* ``machine`` / ``beep``: a pure tone between ``beep_min_hz`` and ``beep_max_hz`` held for at
  least ``beep_min_s`` (Goertzel filters on a grid of frequencies, the tone's share of the
  frame's energy must be at least ``beep_purity``);
* ``machine`` / ``long greeting``: speech that went on for more than ``max_person_greeting_s``
  without a pause of ``end_silence_s``;
* ``person`` / ``short greeting``: speech of at most ``max_person_greeting_s`` followed by
  ``end_silence_s`` of silence;
* ``person`` / ``silence``: nothing said for ``max_initial_silence_s`` (a person who waits for
  the caller to speak first; the survey's opening starts).

After ``machine``, :meth:`AmdDetector.greeting_over` tells when to leave a message: once a
beep has ended, or after ``end_silence_s`` of silence following the greeting (machines
without a beep record from the end of the greeting), or ``max_wait_beep_s`` at the latest.

Speech is found by frame energy against an adaptive noise floor (no model, no load).
Thresholds were tuned on the tuning half of ``bench/amd_eval.py``'s recordings only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from voicebot.errors import AudioError

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE

Verdict = Literal["person", "machine"]


@dataclass(frozen=True)
class AmdConfig:
    """Thresholds of :class:`AmdDetector` (times in seconds, levels in dBFS).

    Attributes:
        max_person_greeting_s: longest greeting still taken for a person.
        end_silence_s: the pause that ends a greeting.
        max_initial_silence_s: silence before any speech after which a person is assumed.
        speech_dbfs: a frame is speech when this loud and ``speech_over_floor_db`` over
            the noise floor.
        speech_over_floor_db: see ``speech_dbfs``.
        beep_min_hz / beep_max_hz / beep_step_hz: the tone frequencies searched.
        beep_min_s: how long a tone must be held.
        beep_purity: the tone's share of the frame energy (0-1).
        max_wait_beep_s: after a machine verdict, the longest wait for the greeting's end.
    """

    max_person_greeting_s: float = 2.5
    end_silence_s: float = 0.8
    max_initial_silence_s: float = 4.0
    speech_dbfs: float = -45.0
    speech_over_floor_db: float = 12.0
    beep_min_hz: float = 400.0
    beep_max_hz: float = 2000.0
    beep_step_hz: float = 25.0
    beep_min_s: float = 0.15
    beep_purity: float = 0.8
    max_wait_beep_s: float = 20.0


@dataclass(frozen=True)
class AmdResult:
    """The verdict: ``person`` or ``machine``, why, and when (s of callee audio)."""

    verdict: Verdict
    reason: str
    at_s: float


class ToneDetector:
    """Goertzel power on a frequency grid; finds frames that hold one pure tone."""

    def __init__(self, cfg: AmdConfig) -> None:
        self.freqs = np.arange(cfg.beep_min_hz, cfg.beep_max_hz + 1e-6, cfg.beep_step_hz)
        n = np.arange(FRAME_SAMPLES)
        window = np.hanning(FRAME_SAMPLES)
        # Goertzel at each grid frequency is one DFT bin: a windowed complex exponential
        self._basis = (window * np.exp(-2j * np.pi * np.outer(self.freqs, n) / SAMPLE_RATE)).T
        self._window = window
        self.purity = cfg.beep_purity

    def tone(self, frame: np.ndarray) -> float | None:
        """The frequency of the pure tone in ``frame`` (Hz), or None."""
        x = frame.astype(np.float64)
        x = x - x.mean()
        total = float(np.sum((x * self._window) ** 2))
        if total <= 1e-3:
            return None
        power = np.abs(x @ self._basis) ** 2
        k = int(np.argmax(power))
        # a windowed sinusoid of amplitude-sum S has |X|^2 = S^2/4 at its frequency and
        # sum(x^2 w^2) = S_w2/2; their ratio for a pure tone is sum(w)^2 / (2 sum(w^2))
        norm = float(np.sum(self._window)) ** 2 / (2.0 * float(np.sum(self._window**2)))
        share = float(power[k]) / (total * norm)
        return float(self.freqs[k]) if share >= self.purity else None


class AmdDetector:
    """Feed frames with :meth:`feed` until it returns an :class:`AmdResult`."""

    def __init__(self, cfg: AmdConfig | None = None) -> None:
        self.cfg = cfg or AmdConfig()
        self.tones = ToneDetector(self.cfg)
        self.t = 0.0  # s of audio fed
        self.floor_db = -70.0
        self.speech_start: float | None = None
        self.last_speech: float | None = None
        self.tone_hz: float | None = None
        self.tone_run = 0
        self.beep_seen = False
        self.beep_end: float | None = None
        self.result: AmdResult | None = None

    @staticmethod
    def level_db(frame: np.ndarray) -> float:
        rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
        return 20.0 * np.log10(max(rms, 1e-3) / 32768.0)

    def _is_speech(self, db: float) -> bool:
        loud = db >= self.cfg.speech_dbfs and db >= self.floor_db + self.cfg.speech_over_floor_db
        if not loud:  # follow the noise floor: fast down, slow up
            rate = 0.3 if db < self.floor_db else 0.02
            self.floor_db += rate * (db - self.floor_db)
        return loud

    def _track_tone(self, frame: np.ndarray, loud: bool) -> bool:
        """Update the tone run; True when a beep has just been held long enough."""
        hz = self.tones.tone(frame) if loud else None
        if hz is not None and self.tone_hz is not None and abs(hz - self.tone_hz) <= 50.0:
            self.tone_run += 1
        elif hz is not None:
            self.tone_hz, self.tone_run = hz, 1
        else:
            if self.beep_seen and self.tone_run and self.beep_end is None:
                self.beep_end = self.t
            self.tone_hz, self.tone_run = None, 0
        held = self.tone_run * FRAME_S >= self.cfg.beep_min_s - 1e-9
        if held and not self.beep_seen:
            self.beep_seen = True
            return True
        return False

    def feed(self, frame: bytes | np.ndarray) -> AmdResult | None:
        """One 20 ms frame (PCM16 bytes or int16 samples); the verdict once reached."""
        samples = np.frombuffer(frame, dtype="<i2") if isinstance(frame, bytes) else frame
        if samples.size != FRAME_SAMPLES:
            raise AudioError(f"AMD needs 20 ms frames of 160 samples, got {samples.size}")
        db = self.level_db(samples)
        loud = self._is_speech(db)
        beep = self._track_tone(samples, loud)
        self.t += FRAME_S
        if self.result is not None:
            if loud:
                self.last_speech = self.t
            return self.result
        cfg = self.cfg
        if beep:
            return self._decide("machine", "beep")
        if loud:
            if self.speech_start is None:
                self.speech_start = self.t - FRAME_S
            self.last_speech = self.t
            if self.t - self.speech_start > cfg.max_person_greeting_s:
                return self._decide("machine", "long greeting")
            return None
        if self.speech_start is None:
            if self.t >= cfg.max_initial_silence_s:
                return self._decide("person", "silence")
            return None
        assert self.last_speech is not None
        if self.t - self.last_speech >= cfg.end_silence_s:
            return self._decide("person", "short greeting")
        return None

    def _decide(self, verdict: Verdict, reason: str) -> AmdResult:
        self.result = AmdResult(verdict, reason, round(self.t, 2))
        return self.result

    def greeting_over(self) -> str | None:
        """After a machine verdict (keep feeding frames): why the machine records now
        (``beep``, ``end of greeting``, ``waited``), or None while its greeting goes on."""
        if self.beep_end is not None:
            return "beep"
        if self.result is None:
            return None
        if self.beep_seen:
            return None  # the beep is still sounding
        if self.t - self.result.at_s >= self.cfg.max_wait_beep_s:
            return "waited"
        quiet_since = self.last_speech if self.last_speech is not None else 0.0
        if self.t - quiet_since >= max(self.cfg.end_silence_s, 1.5):
            return "end of greeting"
        return None


def classify(samples: np.ndarray, cfg: AmdConfig | None = None) -> AmdResult:
    """The verdict on a whole recording (int16, 8 kHz), padded with silence if it ends
    before a verdict (for evaluation and tests)."""
    det = AmdDetector(cfg)
    limit = (det.cfg.max_initial_silence_s + 1.0) / FRAME_S
    pad = np.zeros(FRAME_SAMPLES * int(limit + 1), dtype=np.int16)
    audio = np.concatenate([samples.astype(np.int16), pad])
    for i in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        result = det.feed(audio[i : i + FRAME_SAMPLES])
        if result is not None:
            return result
    raise AssertionError("unreachable: silence always ends in a verdict")
