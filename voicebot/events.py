"""Frozen, typed events the stages exchange. Stages import this module, not each other.

Dialog side (this file's first half) is what the Rasa bridge hands to a session: bot
texts, and at most one hand-off. Audio/turn events (second half) are what the segmenter,
the ASR engines and the turn state machine exchange; times are seconds on the session's
clock (virtual in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

# ----------------------------------------------------------------------------- dialog


class HandoffReason(StrEnum):
    """Why a caller went to a person (recorded in every hand-off record)."""

    ROUTED = "routed"  # the request belongs to a department (billing, sales, ...)
    REQUESTED = "requested"  # the caller asked for a person
    NOT_UNDERSTOOD = "not_understood"  # two misunderstandings in a row / no match
    UPSET = "upset"  # angry or complaining caller
    IDENTIFICATION_FAILED = "identification_failed"  # three failed identification attempts
    OUT_OF_HOURS = "out_of_hours"  # department closed: a message was offered instead
    NO_INPUT = "no_input"  # the caller stayed silent after reprompts
    TRANSFER_FAILED = "transfer_failed"  # the department did not take the call
    TECHNICAL_ERROR = "technical_error"  # a component failed mid-call (ASR, dialog, TTS...)


ExpectedInput = Literal["free", "digits", "yes_no", "spelled", "answer", "number"]
"""What the next caller turn should hold: ``answer`` is a survey answer (yes or no, a choice,
a short phrase) and ``number`` a survey's rating or score, each recognised with its own
context; the others as the dialog asks."""


@dataclass(frozen=True)
class Handoff:
    """The dialog's decision to pass the caller to a department.

    Attributes:
        department: key in the department config (``billing``, ``support_l2``...).
        reason: why (see :class:`HandoffReason`).
        transfer_uri: SIP URI of the department queue.
        is_open: whether the department is open now; closed means "take a message".
        intent: the caller's request as understood (Rasa intent name) or None.
        slots: what was learned (account, postcode...), secrets already removed.
        summary: one line an agent can read before picking up.
    """

    department: str
    reason: HandoffReason
    transfer_uri: str = ""
    is_open: bool = True
    intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


@dataclass(frozen=True)
class DialogReply:
    """What the dialog answers to one caller turn.

    Attributes:
        texts: bot utterances in order, to speak.
        intent: intent recognised in the caller's turn (None for call events).
        confidence: that intent's confidence, 0..1.
        handoff: set when the caller must go to a person now.
        message: set when the caller left a message (text, department).
        ended: the conversation is over (goodbye or after a hand-off).
        expect: what the next caller turn is expected to hold (ASR grammar hint).
    """

    texts: tuple[str, ...]
    intent: str | None = None
    confidence: float = 0.0
    handoff: Handoff | None = None
    message: dict[str, Any] | None = None
    ended: bool = False
    expect: ExpectedInput = "free"


@dataclass(frozen=True)
class Outcome:
    """How a conversation ended: what QA compares against expectations."""

    kind: Literal["resolved", "routed", "message", "abandoned"]
    department: str | None = None
    reason: HandoffReason | None = None
    intents: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "routed":
            return f"routed to {self.department} ({self.reason})"
        if self.kind == "message":
            return f"message taken for {self.department} ({self.reason})"
        return self.kind


# ----------------------------------------------------------------------------- audio / turns
# What the segmenter (voicebot.audio), the ASR engines, the telephony layer, playout and the
# turn-taking state machine (voicebot.turns) exchange. Every event carries ``time_s``: the
# moment it happened, in seconds on the session's clock (the call's audio timeline; a virtual
# clock in tests). The turn machine never reads a clock: these times are its only notion of time.

TurnSource = Literal["speech", "dtmf", "mixed"]


@dataclass(frozen=True)
class SpeechStarted:
    """The segmenter decided the caller started speaking.

    Attributes:
        time_s: when the decision was made (end of the frame that confirmed speech), s.
        start_s: start of the first speech frame of the segment, s (``<= time_s``).
        audio_start_s: where the segment's audio begins, pre-roll included, s (``<= start_s``).
    """

    time_s: float
    start_s: float
    audio_start_s: float


@dataclass(frozen=True)
class SpeechPaused:
    """The caller has been silent for ``vad.pause_ms`` inside an open segment: an early
    hint that the segment may end, so the ASR can start its final decode before the
    endpoint. It is still valid when the :class:`SpeechEnded` that follows has the same
    ``end_s``; if speech resumes first, no SpeechEnded with that ``end_s`` comes.

    Attributes:
        time_s: when the pause was noticed, s.
        start_s: start of the segment's first speech frame, s.
        end_s: end of the last speech frame before the pause, s.
    """

    time_s: float
    start_s: float
    end_s: float


@dataclass(frozen=True)
class SpeechEnded:
    """The segmenter decided the caller stopped speaking (endpoint).

    Attributes:
        time_s: when the decision was made (after ``end_silence_ms`` of silence), s.
        start_s: start of the segment's first speech frame, s.
        end_s: end of the segment's last speech frame, s: "end of caller speech" for latency.
        forced: True when the segment hit the maximum length rather than silence.
    """

    time_s: float
    start_s: float
    end_s: float
    forced: bool = False


@dataclass(frozen=True)
class Transcript:
    """A recognition result from an ASR engine.

    Attributes:
        time_s: when the result was available, s.
        text: the words heard ("" when the engine heard nothing it could transcribe).
        confidence: 0..1; engines without a confidence report 1.0.
        final: False for a partial (may still change), True for the segment's final result.
    """

    time_s: float
    text: str
    confidence: float = 1.0
    final: bool = True


@dataclass(frozen=True)
class DtmfDigit:
    """A keypad digit from the line (RFC 2833 / SIP INFO), one of ``0-9 * # A-D``.

    Attributes:
        time_s: when the digit arrived, s.
        digit: the key, one character.
    """

    time_s: float
    digit: str


@dataclass(frozen=True)
class PlaybackStarted:
    """Bot audio started playing to the caller.

    Attributes:
        time_s: when the first sample went out, s.
        interruptible: whether caller speech or keys may stop it (barge-in).
    """

    time_s: float
    interruptible: bool = True


@dataclass(frozen=True)
class PlaybackFinished:
    """Bot audio stopped: it played to the end, or was stopped by a barge-in.

    Attributes:
        time_s: when the last sample went out, s.
        interrupted: True when it was cut short.
    """

    time_s: float
    interrupted: bool = False


@dataclass(frozen=True)
class ExpectInput:
    """What the dialog expects next (from :attr:`DialogReply.expect`): a hint for the ASR
    grammar and for keypad collection.

    Attributes:
        time_s: when the expectation was set, s.
        expect: ``free`` | ``digits`` | ``yes_no``.
        max_digits: keypad input completes after this many digits (None: on ``#`` or timeout).
    """

    time_s: float
    expect: ExpectedInput = "free"
    max_digits: int | None = None


@dataclass(frozen=True)
class Tick:
    """The clock moved: lets timers (no input, inter-digit, ASR wait) fire. ``time_s`` in s."""

    time_s: float


@dataclass(frozen=True)
class UserTurn:
    """One complete caller turn, ready for the dialog.

    Attributes:
        time_s: when the turn was complete (the decision time), s.
        text: the words heard, with keypad digits appended as digits (``"1234"``).
        confidence: 0..1 (ASR confidence for speech; 1.0 for keypad only).
        source: ``speech`` | ``dtmf`` | ``mixed`` (both in one turn).
        start_s: start of the caller's first speech frame or first key, s.
        end_s: end of the caller's last speech frame or last key, s.
        digits: the keypad part alone ("" when none); the terminator ``#`` is not included.
        expect: the expectation that was in force (echoed from :class:`ExpectInput`).
    """

    time_s: float
    text: str
    confidence: float
    source: TurnSource
    start_s: float
    end_s: float
    digits: str = ""
    expect: ExpectedInput = "free"


@dataclass(frozen=True)
class BargeIn:
    """The caller interrupted bot playback: playout must stop now.

    Attributes:
        time_s: when the barge-in was decided, s.
        start_s: when the interrupting speech (or key) started, s.
        source: ``speech`` or ``dtmf``.
    """

    time_s: float
    start_s: float
    source: Literal["speech", "dtmf"] = "speech"


@dataclass(frozen=True)
class NoInput:
    """The caller said and keyed nothing for the configured time after the bot finished.

    Attributes:
        time_s: when the timeout fired, s.
        waited_s: how long the caller was silent, s.
        count: consecutive no-inputs so far in this call (1 = first: reprompt; more: escalate).
    """

    time_s: float
    waited_s: float
    count: int


TurnInput = (
    SpeechStarted
    | SpeechPaused
    | SpeechEnded
    | Transcript
    | DtmfDigit
    | PlaybackStarted
    | PlaybackFinished
    | ExpectInput
    | Tick
)
TurnOutput = UserTurn | BargeIn | NoInput
