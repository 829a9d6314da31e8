"""A pure voice-activity segmenter with endpointing.

It knows nothing about audio: it is fed one speech score (0..1) per fixed-length frame, in
order, and decides where caller speech segments start and end. It reads no clock; times
come from the frame count and the frame length (``time_s`` of a frame = its end). The same
input always gives the same events, so it is tested with synthetic score timelines.

Rules (all lengths in ms):
  * A frame is *speech* when its score >= ``threshold``, *silence* when its score <
    ``threshold - hysteresis``; in between it keeps the current state's run going
    without adding to it.
  * Idle -> speaking when speech frames add up to ``min_speech_ms`` with no silence run of
    ``gap_ms`` or more breaking them (a click of a frame or two never starts a segment).
    The segment starts at its first speech frame; its audio starts ``pre_roll_ms`` earlier.
  * Speaking: after ``pause_ms`` of silence (when > 0) a :class:`SpeechPaused` hint, once
    per pause, so an ASR can start decoding before the endpoint.
  * Speaking -> idle after ``end_silence_ms`` of consecutive silence (the endpoint), or
    after ``max_speech_ms`` without it (forced). The segment ends at the end of its last
    speech frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicebot.events import SpeechEnded, SpeechPaused, SpeechStarted

SegmentEvent = SpeechStarted | SpeechPaused | SpeechEnded


@dataclass
class SpeechSegmenter:
    """Frame scores in, :class:`SpeechStarted` / :class:`SpeechEnded` out.

    Call :meth:`process` once per frame. Configuration fields first, then state.
    """

    frame_ms: float = 20.0
    """Length of one frame, ms (e.g. 20 = 160 samples at 8000 Hz; Silero uses 32)."""
    threshold: float = 0.5
    """Score (0..1) at or above which a frame is speech."""
    hysteresis: float = 0.15
    """A frame is silence only below ``threshold - hysteresis`` (score units)."""
    min_speech_ms: float = 100.0
    """Speech needed before a segment starts, ms; shorter bursts are ignored."""
    gap_ms: float = 60.0
    """While confirming a start, a silence run this long resets the speech count, ms."""
    end_silence_ms: float = 200.0
    """Consecutive silence that ends a segment (endpoint), ms."""
    pause_ms: float = 0.0
    """Silence that emits a SpeechPaused hint before the endpoint, ms (0 = never)."""
    pre_roll_ms: float = 200.0
    """Audio kept before the first speech frame, ms (reported in ``audio_start_s``)."""
    max_speech_ms: float = 20000.0
    """A segment is ended (``forced=True``) after this long, ms."""
    start_offset_s: float = 0.0
    """Time of the start of the first frame, s (the stream's position on the session clock)."""
    start_threshold: float | None = None
    """While idle: the score at or above which a frame counts towards a start (silence:
    below it minus ``hysteresis``); None = ``threshold``. Set by the caller for a while
    (mid-number: :class:`voicebot.hearing.Hearing`); an open segment ends by ``threshold``."""

    frames: int = field(default=0, init=False)
    """Frames processed so far."""
    speaking: bool = field(default=False, init=False)
    """Whether a segment is open."""
    _run_start: int = field(default=-1, init=False)
    _run_speech: int = field(default=0, init=False)
    _silence: int = field(default=0, init=False)
    _seg_start: int = field(default=0, init=False)
    _last_speech: int = field(default=0, init=False)

    def _frames(self, ms: float) -> int:
        return max(1, int(round(ms / self.frame_ms)))

    def time_at(self, frame_index: int) -> float:
        """Time of the start of frame ``frame_index``, s."""
        return self.start_offset_s + frame_index * self.frame_ms / 1000.0

    @property
    def pending_start(self) -> int | None:
        """Frame index where a not-yet-confirmed segment would start, or None."""
        return self._run_start if not self.speaking and self._run_start >= 0 else None

    def reset(self, start_offset_s: float | None = None) -> None:
        """Forget any open segment and count frames from 0 (at ``start_offset_s`` if given)."""
        if start_offset_s is not None:
            self.start_offset_s = start_offset_s
        self.frames = 0
        self.speaking = False
        self._run_start = -1
        self._run_speech = 0
        self._silence = 0

    def process(self, score: float) -> SegmentEvent | None:
        """Take the next frame's speech score; return an event when a segment starts/ends."""
        i = self.frames
        self.frames += 1
        now = self.time_at(i + 1)
        threshold = self.threshold
        if not self.speaking and self.start_threshold is not None:
            threshold = self.start_threshold
        is_speech = score >= threshold
        is_silence = score < threshold - self.hysteresis
        if not self.speaking:
            if is_speech:
                if self._run_start < 0:
                    self._run_start = i
                    self._run_speech = 0
                self._run_speech += 1
                self._silence = 0
                self._last_speech = i
            elif is_silence and self._run_start >= 0:
                self._silence += 1
                if self._silence >= self._frames(self.gap_ms):
                    self._run_start = -1
                    self._run_speech = 0
                    self._silence = 0
            if self._run_start >= 0 and self._run_speech >= self._frames(self.min_speech_ms):
                self.speaking = True
                self._seg_start = self._run_start
                self._silence = 0
                start = self.time_at(self._seg_start)
                audio_start = max(self.start_offset_s, start - self.pre_roll_ms / 1000.0)
                return SpeechStarted(time_s=now, start_s=start, audio_start_s=audio_start)
            return None
        if is_speech:
            self._silence = 0
            self._last_speech = i
        elif is_silence:
            self._silence += 1
        if self._silence >= self._frames(self.end_silence_ms):
            return self._end(now, forced=False)
        if self.pause_ms > 0 and is_silence and self._silence == self._frames(self.pause_ms):
            return SpeechPaused(
                time_s=now,
                start_s=self.time_at(self._seg_start),
                end_s=self.time_at(self._last_speech + 1),
            )
        if (i + 1 - self._seg_start) >= self._frames(self.max_speech_ms):
            return self._end(now, forced=True)
        return None

    def end_if_unchanged(self, paused: SpeechPaused) -> SpeechEnded | None:
        """End the open segment now, if it is still the one ``paused`` described and no
        speech came since (the caller of an early endpoint decided the turn is complete).

        Returns the :class:`SpeechEnded` (``time_s`` = end of the last frame processed), or
        None when the segment already ended or speech resumed after the pause.
        """
        if (
            not self.speaking
            or abs(self.time_at(self._seg_start) - paused.start_s) > 1e-9
            or abs(self.time_at(self._last_speech + 1) - paused.end_s) > 1e-9
        ):
            return None
        return self._end(self.time_at(self.frames), forced=False)

    def flush(self) -> SpeechEnded | None:
        """The stream ended: close an open segment (``time_s`` = end of the last frame)."""
        if not self.speaking:
            return None
        return self._end(self.time_at(self.frames), forced=False)

    def _end(self, now: float, *, forced: bool) -> SpeechEnded:
        event = SpeechEnded(
            time_s=now,
            start_s=self.time_at(self._seg_start),
            end_s=self.time_at(self._last_speech + 1),
            forced=forced,
        )
        self.speaking = False
        self._run_start = -1
        self._run_speech = 0
        self._silence = 0
        return event
