"""Turn-taking: a pure state machine from caller/bot activity to user turns and barge-ins.

Inputs (:data:`voicebot.events.TurnInput`), each carrying its own ``time_s``:
    SpeechStarted / SpeechEnded   from the VAD segmenter (SpeechPaused is accepted, ignored)
    Transcript                    from the ASR (partial or final)
    DtmfDigit                     from the line
    PlaybackStarted / Finished    from playout
    ExpectInput                   from the dialog (what the next turn should hold)
    Tick                          the clock moved (lets timers fire)
Outputs (:data:`voicebot.events.TurnOutput`):
    UserTurn   a complete caller turn (speech, keypad or both)
    BargeIn    caller speech or a key during interruptible playback: stop the playback
    NoInput    the caller stayed silent ``no_input_ms`` after the bot finished speaking

No I/O and no clock reads: :meth:`TurnTaker.handle` first fires every timer due at or
before the input's time (stamped with the timer's own time, so a late Tick changes
nothing), then applies the input. :meth:`TurnTaker.next_deadline` says when the next timer
is due, so a driver (the call session, or a test's virtual clock) knows when to Tick.

Rules:
  * Speech: a turn's speech part is complete when no segment is open and every ended
    segment has its final transcript (the ASR sends exactly one final per segment after
    SpeechEnded) or ``asr_final_timeout_ms`` passed (then the last partial is used).
    Segments whose transcripts are all empty are noise: no turn.
    A final transcript with no segment at all (text chat, an ASR with its own endpointing)
    is a turn by itself.
  * Barge-in: a segment open during interruptible playback for ``barge_in_min_ms`` (counted
    from its first speech frame, so a caller still talking when playback starts barges in
    at once) emits BargeIn once; the segment then is a normal turn.
    A segment that ends during playback without barging in is dropped with its transcript,
    so coughs and line noise never interrupt or make turns. Because a segment stays open
    for ``vad.end_silence_ms`` after the sound stops, bursts shorter than
    ``barge_in_min_ms - vad.end_silence_ms`` never barge in.
    With ``dtmf_barge_in`` a key during interruptible playback barges in at once.
  * Keypad: digits collect until the terminator (``#``, not kept), ``max_digits`` (from
    ExpectInput, else ``dtmf_max_digits``; 0 = no limit) or ``dtmf_inter_digit_ms`` after
    the last key. A lone terminator is a turn with text ``#``.
  * Mixed: speech and keys that overlap (a key while speech is open or awaiting its final,
    or speech while digits are being collected) make one turn, ``source="mixed"``, text =
    the words then the digits. Speech that completed before the first key is its own turn.
  * No input: armed when playback finishes, disarmed by caller speech or a key or new
    playback; re-armed after noise that made no turn. Each NoInput counts up; a UserTurn
    resets the count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicebot.errors import ConfigError
from voicebot.events import (
    BargeIn,
    DtmfDigit,
    ExpectedInput,
    ExpectInput,
    NoInput,
    PlaybackFinished,
    PlaybackStarted,
    SpeechEnded,
    SpeechPaused,
    SpeechStarted,
    Tick,
    Transcript,
    TurnInput,
    TurnOutput,
    TurnSource,
    UserTurn,
)

DTMF_KEYS = frozenset("0123456789*#ABCD")
MAX_KEYS_PER_TURN = 64
"""Keys kept in one keypad turn; more are ignored (a flood of keys cannot grow a turn)."""


@dataclass(frozen=True)
class TurnConfig:
    """Settings section ``turns`` (see ``voicebot/defaults/voicebot.yml``).

    Attributes:
        barge_in: caller speech may stop interruptible playback.
        barge_in_min_ms: speech must last this long during playback to barge in, ms.
        dtmf_barge_in: a key during interruptible playback stops it at once.
        no_input_ms: silence after the bot finished speaking that makes a NoInput, ms.
        dtmf_terminator: the key that ends keypad input ("" = none).
        dtmf_inter_digit_ms: keypad input ends this long after the last key, ms.
        dtmf_max_digits: keypad input ends after this many digits (0 = no limit) unless
            ExpectInput says otherwise.
        asr_final_timeout_ms: how long to wait for the ASR's final after speech ends, ms.
    """

    barge_in: bool = True
    barge_in_min_ms: float = 500.0
    dtmf_barge_in: bool = True
    no_input_ms: float = 6000.0
    dtmf_terminator: str = "#"
    dtmf_inter_digit_ms: float = 3000.0
    dtmf_max_digits: int = 0
    asr_final_timeout_ms: float = 2000.0

    def __post_init__(self) -> None:
        for name in ("barge_in_min_ms", "no_input_ms", "dtmf_inter_digit_ms"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"settings section 'turns': {name} must be > 0 ms")
        if self.asr_final_timeout_ms < 0:
            raise ConfigError("settings section 'turns': asr_final_timeout_ms must be >= 0 ms")
        if self.dtmf_max_digits < 0:
            raise ConfigError("settings section 'turns': dtmf_max_digits must be >= 0")
        if self.dtmf_terminator and (
            len(self.dtmf_terminator) != 1 or self.dtmf_terminator not in DTMF_KEYS
        ):
            raise ConfigError(
                f"settings section 'turns': dtmf_terminator {self.dtmf_terminator!r} "
                "must be one key of 0-9 * # A-D, or empty"
            )


@dataclass
class _Segment:
    """One speech segment and what the ASR said about it."""

    start_s: float
    end_s: float | None = None  # end of last speech frame, once ended
    ended_at: float | None = None  # decision time of SpeechEnded
    during_playback: bool = False
    barged_in: bool = False
    ignored: bool = False
    final: bool = False
    text: str = ""
    partial: str = ""
    confidence: float = 1.0


@dataclass
class TurnTaker:
    """The turn-taking state machine (see the module docstring). One per call."""

    config: TurnConfig = field(default_factory=TurnConfig)

    playing: bool = field(default=False, init=False)
    """Bot audio is playing."""
    no_input_count: int = field(default=0, init=False)
    """Consecutive NoInput events since the last UserTurn."""
    expect: ExpectedInput = field(default="free", init=False)
    """The dialog's expectation for the next turn."""
    max_digits: int | None = field(default=None, init=False)
    """Keypad length from the last ExpectInput (None: the config's)."""

    _interruptible: bool = field(default=True, init=False)
    _segments: list[_Segment] = field(default_factory=list, init=False)
    _digits: str = field(default="", init=False)
    _digits_open: bool = field(default=False, init=False)
    _digits_done: bool = field(default=False, init=False)
    _terminator_only: bool = field(default=False, init=False)
    _first_key_s: float | None = field(default=None, init=False)
    _last_key_s: float | None = field(default=None, init=False)
    _no_input_from: float | None = field(default=None, init=False)
    _playback_barged: bool = field(default=False, init=False)
    _waiting: bool = field(default=False, init=False)  # bot finished, caller's turn to speak

    # ------------------------------------------------------------------ public

    @property
    def caller_speaking(self) -> bool:
        """A speech segment is open."""
        return self._open_segment() is not None

    def handle(self, event: TurnInput) -> list[TurnOutput]:
        """Apply one input; returns the outputs it caused (timers due first), in time order."""
        out = self._advance(event.time_s)
        if isinstance(event, SpeechStarted):
            self._on_speech_started(event, out)
        elif isinstance(event, SpeechEnded):
            self._on_speech_ended(event, out)
        elif isinstance(event, Transcript):
            self._on_transcript(event, out)
        elif isinstance(event, DtmfDigit):
            self._on_digit(event, out)
        elif isinstance(event, PlaybackStarted):
            self.playing = True
            self._interruptible = event.interruptible
            self._playback_barged = False
            self._waiting = False
            self._no_input_from = None
            seg = self._open_segment()
            if seg is not None:  # the caller is still talking as the bot starts
                seg.during_playback = True
                if self._barge_in_possible(seg) and event.time_s - seg.start_s >= (
                    self.config.barge_in_min_ms / 1000.0
                ):
                    self._barge(seg, event.time_s, out)
        elif isinstance(event, PlaybackFinished):
            self.playing = False
            self._waiting = True
            if not self._busy():
                self._no_input_from = event.time_s
        elif isinstance(event, ExpectInput):
            self.expect = event.expect
            self.max_digits = event.max_digits
        elif isinstance(event, Tick | SpeechPaused):
            pass
        else:  # pragma: no cover - typing guards this
            raise TypeError(f"not a turn input: {event!r}")
        return out

    def next_deadline(self) -> float | None:
        """Session time (s) of the next timer, or None when no timer is armed."""
        times = [t for t, _ in self._deadlines()]
        return min(times) if times else None

    # ------------------------------------------------------------------ timers

    def _deadlines(self) -> list[tuple[float, str]]:
        cfg = self.config
        out: list[tuple[float, str]] = []
        seg = self._open_segment()
        if seg is not None and self._barge_in_possible(seg):
            out.append((seg.start_s + cfg.barge_in_min_ms / 1000.0, "barge_in"))
        for s in self._segments:
            if s.ended_at is not None and not s.final:
                out.append((s.ended_at + cfg.asr_final_timeout_ms / 1000.0, "asr_final"))
                break
        if self._digits_open and self._last_key_s is not None:
            out.append((self._last_key_s + cfg.dtmf_inter_digit_ms / 1000.0, "inter_digit"))
        if self._no_input_from is not None:
            out.append((self._no_input_from + cfg.no_input_ms / 1000.0, "no_input"))
        return out

    def _advance(self, now: float) -> list[TurnOutput]:
        out: list[TurnOutput] = []
        while True:
            due = [d for d in self._deadlines() if d[0] <= now]
            if not due:
                return out
            when, what = min(due)
            if what == "barge_in":
                seg = self._open_segment()
                assert seg is not None
                self._barge(seg, when, out)
            elif what == "asr_final":
                for s in self._segments:
                    if s.ended_at is not None and not s.final:
                        s.final = True
                        s.text = s.text or s.partial
                        break
                self._maybe_complete(when, out)
            elif what == "inter_digit":
                self._digits_open = False
                self._digits_done = True
                self._maybe_complete(when, out)
            elif what == "no_input":
                assert self._no_input_from is not None
                self.no_input_count += 1
                out.append(
                    NoInput(
                        time_s=when,
                        waited_s=when - self._no_input_from,
                        count=self.no_input_count,
                    )
                )
                self._no_input_from = None

    # ------------------------------------------------------------------ speech

    def _open_segment(self) -> _Segment | None:
        if self._segments and self._segments[-1].ended_at is None:
            return self._segments[-1]
        return None

    def _barge_in_possible(self, seg: _Segment) -> bool:
        return (
            self.playing
            and self._interruptible
            and self.config.barge_in
            and seg.during_playback
            and not seg.barged_in
            and not self._playback_barged
        )

    def _barge(self, seg: _Segment, when: float, out: list[TurnOutput]) -> None:
        seg.barged_in = True
        self._playback_barged = True
        out.append(BargeIn(time_s=when, start_s=seg.start_s, source="speech"))

    def _on_speech_started(self, event: SpeechStarted, out: list[TurnOutput]) -> None:
        open_seg = self._open_segment()
        if open_seg is not None:  # a missed SpeechEnded: close the old one where the new starts
            open_seg.end_s = open_seg.ended_at = event.start_s
        seg = _Segment(start_s=event.start_s, during_playback=self.playing)
        self._segments.append(seg)
        self._no_input_from = None
        if self._barge_in_possible(seg) and event.time_s - seg.start_s >= (
            self.config.barge_in_min_ms / 1000.0
        ):
            self._barge(seg, event.time_s, out)

    def _on_speech_ended(self, event: SpeechEnded, out: list[TurnOutput]) -> None:
        seg = self._open_segment()
        if seg is None:  # an end without a start: take it as a whole segment
            seg = _Segment(start_s=event.start_s, during_playback=self.playing)
            self._segments.append(seg)
        seg.end_s = event.end_s
        seg.ended_at = event.time_s
        if seg.during_playback and self.playing and not seg.barged_in:
            seg.ignored = True  # noise, a cough, or the caller talking over a fixed prompt
        self._maybe_complete(event.time_s, out)

    def _on_transcript(self, event: Transcript, out: list[TurnOutput]) -> None:
        target = next((s for s in self._segments if not s.final), None)
        if target is None:
            if event.final and event.text.strip():
                # no segment: text chat or an ASR with its own endpointing
                seg = _Segment(start_s=event.time_s, end_s=event.time_s, ended_at=event.time_s)
                seg.final, seg.text, seg.confidence = True, event.text.strip(), event.confidence
                self._segments.append(seg)
                self._no_input_from = None
                self._maybe_complete(event.time_s, out)
            return
        text = event.text.strip()
        if not event.final:
            target.partial = " ".join(p for p in (target.text, text) if p)
            return
        if target.ended_at is None:
            # a final inside an open segment (the ASR cut it): keep the words, await more
            target.text = " ".join(p for p in (target.text, text) if p)
            if text:
                target.confidence = min(target.confidence, event.confidence)
            return
        target.text = " ".join(p for p in (target.text, text) if p)
        if text:
            target.confidence = min(target.confidence, event.confidence)
        target.final = True
        self._maybe_complete(event.time_s, out)

    # ------------------------------------------------------------------ keypad

    def _limit(self) -> int:
        if self.max_digits is not None:
            return self.max_digits
        return self.config.dtmf_max_digits

    def _on_digit(self, event: DtmfDigit, out: list[TurnOutput]) -> None:
        key = event.digit.upper()
        if key not in DTMF_KEYS or len(key) != 1:
            return  # not a keypad key: ignore rather than fail a call
        if (
            self.playing
            and self._interruptible
            and self.config.dtmf_barge_in
            and not self._playback_barged
        ):
            out.append(BargeIn(time_s=event.time_s, start_s=event.time_s, source="dtmf"))
            self._playback_barged = True
        self._no_input_from = None
        if self._first_key_s is None:
            self._first_key_s = event.time_s
        self._last_key_s = event.time_s
        if self.config.dtmf_terminator and key == self.config.dtmf_terminator:
            self._terminator_only = not self._digits
            self._digits_open = False
            self._digits_done = True
            self._maybe_complete(event.time_s, out)
            return
        if len(self._digits) >= MAX_KEYS_PER_TURN:
            return
        self._digits += key
        self._digits_open = True
        limit = self._limit()
        if limit and len(self._digits) >= limit:
            self._digits_open = False
            self._digits_done = True
            self._maybe_complete(event.time_s, out)

    # ------------------------------------------------------------------ completion

    def _busy(self) -> bool:
        """The caller is in the middle of something (speech open, final awaited, keys)."""
        return self._digits_open or any(
            s.ended_at is None or (not s.final and not s.ignored) for s in self._segments
        )

    def _clear_segments(self) -> None:
        # ignored segments still await their final: keep them so it is not taken as a turn
        self._segments = [s for s in self._segments if s.ignored and not s.final]

    def _maybe_complete(self, now: float, out: list[TurnOutput]) -> None:
        if self._busy():
            return
        spoken = [s for s in self._segments if not s.ignored and s.text]
        has_keys = self._digits_done and (bool(self._digits) or self._terminator_only)
        if not spoken and not has_keys:
            heard_noise = any(not s.ignored for s in self._segments)
            self._clear_segments()
            if heard_noise and self._waiting and not self.playing:
                self._no_input_from = now  # noise, not a turn: keep waiting for the caller
            return
        words = " ".join(s.text for s in spoken)
        digits = self._digits
        source: TurnSource = "mixed" if spoken and has_keys else ("speech" if spoken else "dtmf")
        starts = [s.start_s for s in spoken]
        ends = [s.end_s if s.end_s is not None else s.start_s for s in spoken]
        if has_keys and self._first_key_s is not None and self._last_key_s is not None:
            starts.append(self._first_key_s)
            ends.append(self._last_key_s)
        if source == "dtmf":
            text = digits if digits else "#"
            confidence = 1.0
        else:
            text = " ".join(p for p in (words, digits) if p)
            confidence = sum(s.confidence for s in spoken) / len(spoken)
        out.append(
            UserTurn(
                time_s=now,
                text=text,
                confidence=confidence,
                source=source,
                start_s=min(starts),
                end_s=max(ends),
                digits=digits,
                expect=self.expect,
            )
        )
        self.no_input_count = 0
        self._no_input_from = None
        self._waiting = False
        self._clear_segments()
        self._digits = ""
        self._digits_done = False
        self._terminator_only = False
        self._first_key_s = self._last_key_s = None
