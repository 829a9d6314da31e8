"""What a call session does besides talking: hand-offs, messages, the failure path.

:class:`SessionActions` is a part of :class:`~voicebot.session.CallSession` (a mixin, kept
apart so each file stays small): carrying out a hand-off (transfer, or a message when the
transfer fails), storing a message durably, hanging up, and, on any failure mid-call,
handing the caller over (:meth:`SessionActions._recover`, with :mod:`voicebot.fallback`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from voicebot.errors import VoicebotError
from voicebot.events import Handoff, HandoffReason
from voicebot.fallback import FallbackPrompts, LineInputs, Recovery
from voicebot.paths import var_dir
from voicebot.redaction import for_log

if TYPE_CHECKING:
    from voicebot.calllog import TurnLog
    from voicebot.dialog.bridge import DialogBridge
    from voicebot.hearing import Hearing
    from voicebot.line import Line
    from voicebot.session_config import SessionConfig
    from voicebot.stages import Recognizer

log = logging.getLogger("voicebot.session")


class SessionActions:
    """Hand-offs, messages and the failure path of a call session (see the module doc)."""

    # set by CallSession.__init__
    line: Line
    bridge: DialogBridge
    recognizer: Recognizer
    cfg: SessionConfig
    departments: Any
    call_id: str
    idle: asyncio.Event
    errors: list[str]
    timeline: list[tuple[float, str, str]]
    hearing: Hearing
    fallback: FallbackPrompts
    failure: str | None
    turn_logs: list[TurnLog]
    _speaking: asyncio.Task[None] | None
    _stop_speaking: bool
    _taking_message: Handoff | None
    _done: bool
    _transfer: str | None
    _line_closed: bool
    _inputs: LineInputs | None

    _say: Callable[..., None]  # CallSession._say: speak texts in the background

    # ------------------------------------------------------------------ failure path

    async def _recover(self, error: BaseException) -> None:
        """The failure path: stop, apologise, record, transfer; else take a message."""
        code = error.code if isinstance(error, VoicebotError) else "internal-error"
        if isinstance(error, VoicebotError):
            log.error(
                "call %s: %s (%s); handing the caller over", self.call_id, for_log(error), code
            )
        else:
            log.error("call %s: unexpected error", self.call_id, exc_info=error)
        self.errors.append(f"{code}: {error}")
        self.failure = code
        await self._stop_speaking_now()
        if self._line_closed or self._inputs is None or self._inputs.ended:
            return  # the caller is gone (or with an agent): nobody to hand over
        try:
            handoff = self._default_handoff(
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
            self._inputs,
            self.idle,
            self.fallback,
            self.errors,
            self.timeline,
            record_messages=self.cfg.record_messages,
        )
        await recovery.run(handoff)
        self._transfer = recovery.transfer or self._transfer

    async def _stop_speaking_now(self) -> None:
        """Stop bot audio and drop what was to follow it (a transfer, a hang-up)."""
        task, self._speaking = self._speaking, None
        if task is not None and not task.done():
            self._stop_speaking = True
            self.line.stop_playback()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # ------------------------------------------------------------------ hand-offs

    def _default_handoff(self, reason: HandoffReason, summary: str) -> Handoff:
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

    async def _transfer_to(self, handoff: Handoff) -> None:
        record = self.bridge.handoff_record(self.call_id, handoff)
        result = await self.line.transfer(handoff.transfer_uri, record.sip_headers())
        self._transfer = f"{handoff.department}:{result}"
        if result == "accepted":
            self._line_closed = True
            return
        log.warning("call %s: transfer to %s failed: %s", self.call_id, handoff.department, result)
        failed = Handoff(
            handoff.department,
            HandoffReason.TRANSFER_FAILED,
            handoff.transfer_uri,
            False,
            handoff.intent,
            handoff.slots,
            handoff.summary,
        )
        self._taking_message = failed
        self._done = False
        self._say(
            (
                f"I'm sorry, nobody can take your call right now. Please leave a short message "
                f"after this, and {self._dept_name(handoff.department)} will call you back.",
            ),
        )

    def _dept_name(self, key: str) -> str:
        if self.departments is not None:
            try:
                return str(self.departments.get(key).name)
            except Exception:  # noqa: BLE001 - a name is only cosmetic
                return key
        return key.replace("_", " ")

    def _store_message(self, text: str) -> None:
        handoff, self._taking_message = self._taking_message, None
        assert handoff is not None
        recording = None
        if self.cfg.record_messages and self.hearing.last_segment is not None:
            from voicebot.audio.wavio import write_wav

            path = var_dir() / "recordings" / f"{self.call_id}-{int(time.time())}.wav"
            recording = str(write_wav(path, self.hearing.last_segment, self.line.rate))
        conv = self.bridge.conversation(self.call_id)
        self.bridge.messages.add(
            call_id=self.call_id,
            department=handoff.department,
            reason=str(handoff.reason),
            text=text,
            transcript=conv.transcript,
            caller_id=conv.caller_id,
            recording_path=recording,
            sip_call_id=conv.sip_call_id,
        )
        conv.message = {
            "department": handoff.department,
            "reason": str(handoff.reason),
            "text": text,
        }
        self._done = True
        self._say(("Thank you, your message has been saved. Goodbye.",), then=self._hangup)

    async def _hangup(self) -> None:
        self._line_closed = True
        await self.line.hangup()


def _now() -> datetime:
    """The current time, or ``$VOICEBOT_NOW`` (ISO 8601) when a replay freezes the clock."""
    frozen = os.environ.get("VOICEBOT_NOW")
    return datetime.fromisoformat(frozen) if frozen else datetime.now(UTC)
