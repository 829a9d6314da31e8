"""How a call leaves the bot: a transfer, a message taken, a hang-up, the failure path.

:class:`SessionExits` is a collaborator that a :class:`~voicebot.session.CallSession` holds
(``session.exits``). It carries out a hand-off (transfer to the department, or, when the
transfer fails, asks for a message), has the hand-off desk
(:mod:`voicebot.center.handoff_desk`, the only writer of records and messages) store that
message durably, hangs up, and, on any failure mid-call, hands the caller over
(:meth:`SessionExits.recover`, with :mod:`voicebot.fallback`). It holds what those decided,
which the session reports in its :class:`~voicebot.calllog.CallResult`: the transfer
result, the hand-off a message is being taken for, whether the line is closed, and the
failure code.

What it says goes through the session's ``say`` (the session owns the speaking task and
the turn state); it tells the session whether the conversation goes on by its return
values, never by writing the session's fields.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from voicebot.errors import VoicebotError
from voicebot.events import Handoff, HandoffReason
from voicebot.fallback import FallbackPrompts, LineInputs, Recovery
from voicebot.redaction import for_log

if TYPE_CHECKING:
    from voicebot.dialog.bridge import DialogBridge
    from voicebot.line import Int16Array, Line
    from voicebot.session_config import SessionConfig
    from voicebot.stages import Recognizer

log = logging.getLogger("voicebot.session")


class SessionExits:
    """Hand-offs, messages, hang-up and the failure path of one call (see the module doc).

    Attributes:
        transfer: the last transfer as ``department:result`` (None: no transfer tried).
        taking_message: the hand-off whose transfer failed, while the caller's next turn is
            taken as a message for it (None otherwise).
        line_closed: the call was hung up (either side) or transferred.
        failure: code of the error that sent the call down the failure path, None if none.
    """

    def __init__(
        self,
        line: Line,
        bridge: DialogBridge,
        recognizer: Recognizer,
        config: SessionConfig,
        departments: Any,
        idle: asyncio.Event,
        fallback: FallbackPrompts,
        errors: list[str],
        timeline: list[tuple[float, str, str]],
    ) -> None:
        self.line = line
        self.bridge = bridge
        self.recognizer = recognizer
        self.cfg = config
        self.departments = departments
        self.call_id = line.call_id
        self.idle = idle
        self.fallback = fallback
        self.errors = errors
        self.timeline = timeline
        self.transfer: str | None = None
        self.taking_message: Handoff | None = None
        self.line_closed = False
        self.failure: str | None = None

    # ------------------------------------------------------------------ failure path

    async def recover(
        self,
        error: BaseException,
        inputs: LineInputs | None,
        stop_speaking: Callable[[], Awaitable[None]],
    ) -> None:
        """The failure path: stop (``stop_speaking``), apologise, record, transfer; else
        take a message. ``inputs``: the call's line inputs (None: the call never started)."""
        code = error.code if isinstance(error, VoicebotError) else "internal-error"
        if isinstance(error, VoicebotError):
            log.error(
                "call %s: %s (%s); handing the caller over", self.call_id, for_log(error), code
            )
        else:
            log.error("call %s: unexpected error", self.call_id, exc_info=error)
        self.errors.append(f"{code}: {error}")
        self.failure = code
        await stop_speaking()
        if self.line_closed or inputs is None or inputs.ended:
            return  # the caller is gone (or with an agent): nobody to hand over
        try:
            handoff = self.default_handoff(
                HandoffReason.TECHNICAL_ERROR, f"Technical error ({code}); caller handed over."
            )
        except Exception as exc:  # noqa: BLE001 - the department config itself failed
            log.error("call %s: default department unknown: %s", self.call_id, exc)
            handoff = Handoff("customer_service", HandoffReason.TECHNICAL_ERROR, is_open=False)
        recovery = Recovery(
            self.call_id,
            self.line,
            self.bridge,
            self.recognizer,
            inputs,
            self.idle,
            self.fallback,
            self.errors,
            self.timeline,
            record_messages=self.cfg.record_messages,
        )
        await recovery.run(handoff)
        self.transfer = recovery.transfer or self.transfer

    # ------------------------------------------------------------------ hand-offs

    def default_handoff(self, reason: HandoffReason, summary: str) -> Handoff:
        """A hand-off to the default department (customer service without a department
        config) for ``reason``, with the last intent of the conversation."""
        key, uri, is_open = "customer_service", "", True
        if self.departments is not None:
            key = self.departments.default
            dept = self.departments.get(key)
            uri = dept.transfer_uri
            is_open = self.departments.is_open(key, _now())
        conv = self.bridge.conversation(self.call_id)
        return Handoff(
            key, reason, uri, is_open, conv.intents[-1] if conv.intents else None, {}, summary
        )

    async def transfer_to(self, handoff: Handoff) -> str | None:
        """Transfer the call to ``handoff``'s department. None when the transfer was
        accepted (the line is closed); else what the caller is to hear: the transfer failed,
        and the caller's next turn is taken as a message (:attr:`taking_message`)."""
        record = self.bridge.handoff_record(self.call_id, handoff)
        result = await self.line.transfer(handoff.transfer_uri, record.sip_headers())
        self.transfer = f"{handoff.department}:{result}"
        if result == "accepted":
            self.line_closed = True
            return None
        log.warning("call %s: transfer to %s failed: %s", self.call_id, handoff.department, result)
        self.taking_message = Handoff(
            handoff.department,
            HandoffReason.TRANSFER_FAILED,
            handoff.transfer_uri,
            False,
            handoff.intent,
            handoff.slots,
            handoff.summary,
        )
        return (
            f"I'm sorry, nobody can take your call right now. Please leave a short message "
            f"after this, and {self.department_name(handoff.department)} will call you back."
        )

    def department_name(self, key: str) -> str:
        """The spoken name of department ``key`` (the key itself when it has none)."""
        if self.departments is not None:
            try:
                return str(self.departments.get(key).name)
            except Exception:  # noqa: BLE001 - a name is only cosmetic
                return key
        return key.replace("_", " ")

    def store_message(self, text: str, audio: Int16Array | None) -> None:
        """Store the caller's message ``text`` (with its recording ``audio`` at the line
        rate, when messages are recorded) for the hand-off in :attr:`taking_message`."""
        handoff, self.taking_message = self.taking_message, None
        assert handoff is not None
        keep = audio if self.cfg.record_messages else None
        self.bridge.desk.take_message(
            self.bridge.conversation(self.call_id),
            {"department": handoff.department, "reason": str(handoff.reason), "text": text},
            audio=keep,
            rate=self.line.rate,
        )

    async def hangup(self) -> None:
        """End the call from the bot's side."""
        self.line_closed = True
        await self.line.hangup()


def _now() -> datetime:
    """The current time, or ``$VOICEBOT_NOW`` (ISO 8601) when a replay freezes the clock."""
    frozen = os.environ.get("VOICEBOT_NOW")
    return datetime.fromisoformat(frozen) if frozen else datetime.now(UTC)
