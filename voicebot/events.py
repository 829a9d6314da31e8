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


ExpectedInput = Literal["free", "digits", "yes_no"]


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
