"""Call-worker side of the dialog service: the DialogBridge surface the session uses.

:class:`RemoteDialog` answers ``start``/``handle`` through the host's dialog service and
keeps each call's :class:`~voicebot.dialog.bridge.Conversation` (transcript, intents,
hand-off, requested slot) here, sending it with every request: the service keeps no call
state besides Rasa's tracker store, so it can be restarted between two turns of a call.

A request that finds the service down waits for it (``services.reconnect_s``); a request
lost in flight (the service died while answering) raises :class:`DialogError`: the turn
may or may not have been taken, and sending it again could answer it twice. Hand-off
records decided in the call (silence, failed transfer) and messages taken in the call are
written here, so they are kept even while the dialog service is down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from voicebot.dialog.bridge import ConversationKeeper
from voicebot.errors import DialogError
from voicebot.events import DialogReply
from voicebot.handoff import HandoffLog
from voicebot.messages import MessageStore
from voicebot.services.client import RETRY_PAUSE_S
from voicebot.services.dialog_wire import (
    conversation_from_wire,
    conversation_to_wire,
    reply_from_wire,
)
from voicebot.services.protocol import (
    Address,
    ServiceError,
    ServiceUnavailable,
    open_async,
    raise_for,
    read_frame,
    write_frame,
)

log = logging.getLogger(__name__)


class RemoteDialog(ConversationKeeper):
    """The session's dialog bridge over the dialog service (see the module docstring)."""

    def __init__(
        self,
        address: Address,
        *,
        reconnect_s: float = 60.0,
        timeout_s: float = 30.0,
        handoffs: HandoffLog | None = None,
        messages: MessageStore | None = None,
    ) -> None:
        super().__init__(handoffs=handoffs, messages=messages)
        self.address = address
        self.reconnect_s = reconnect_s
        self.timeout_s = timeout_s

    # ------------------------------------------------------------------ service calls

    async def _request(self, message: dict[str, Any], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.reconnect_s
        while True:
            try:
                reader, writer = await open_async(self.address, self.timeout_s)
            except ServiceUnavailable as exc:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"{what}: the dialog service at {self.address} did not answer within "
                        f"{self.reconnect_s:.0f} s"
                    ) from exc
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            try:
                await write_frame(writer, message)
                reply = await asyncio.wait_for(read_frame(reader), self.timeout_s)
            except (TimeoutError, OSError, ServiceError) as exc:
                raise DialogError(f"{what}: lost the dialog service during the request") from exc
            finally:
                writer.close()
            if reply is None:
                raise DialogError(f"{what}: the dialog service closed during the request")
            return raise_for(reply, what)

    async def _turn(self, message: dict[str, Any], what: str) -> DialogReply:
        call_id = message["call_id"]
        message["conv"] = conversation_to_wire(self.conversation(call_id))
        reply = await self._request(message, what)
        self._conversations[call_id] = conversation_from_wire(reply["conv"])
        return reply_from_wire(reply["reply"])

    async def start(
        self, call_id: str, caller_id: str | None = None, sip_call_id: str | None = None
    ) -> DialogReply:
        """Begin a call: session start (caller-ID lookup) and the greeting."""
        conv = self.conversation(call_id)
        conv.caller_id, conv.sip_call_id = caller_id, sip_call_id
        return await self._turn(
            {"op": "start", "call_id": call_id, "caller_id": caller_id, "sip_call_id": sip_call_id},
            "dialog start",
        )

    async def handle(self, call_id: str, text: str) -> DialogReply:
        """One caller turn (speech transcript, typed text or keyed digits)."""
        return await self._turn({"op": "handle", "call_id": call_id, "text": text}, "dialog turn")

    async def start_survey(self, call_id: str, intent: str, script_json: str) -> DialogReply:
        """Start an outbound survey (see :meth:`DialogBridge.start_survey`)."""
        return await self._turn(
            {"op": "survey", "call_id": call_id, "intent": intent, "script": script_json},
            "survey start",
        )

    async def end_call(self, call_id: str) -> None:
        """The call is over: the service deletes its stored conversation."""
        self.forget(call_id)
        await self._request({"op": "end", "call_id": call_id}, "dialog end")
