"""Call-worker side of the dialog service: the DialogBridge surface the session uses.

:class:`RemoteDialog` answers ``start``/``handle`` through the host's dialog service and
keeps each call's :class:`~voicebot.dialog.bridge.Conversation` (transcript, intents,
hand-off, requested slot) here, sending it with every request: the service keeps no call
state besides Rasa's tracker store, so it can be restarted between two turns of a call.

The client knows an ordered list of dialog services: its own host's first, then other
hosts' (``services.dialog_peers``), all sharing one Redis tracker and lock store. Every
request goes to the first one that answers, so a worker is back on its own host's service
as soon as that one listens again (after its restart). A service that refuses the
connection is skipped at once; when none answers the request waits for one
(``services.reconnect_s``). A request lost in flight (the service died while answering) is
sent once more to the next service, marked as a resend with the number of tracker events
the worker last saw: if the dead service had already stored the turn, the next one refuses
it (the dialog error code, the call's failure path) rather than answer the turn twice. When
the connection was closed (the service process died) the next one also breaks the dead
service's Redis lock on the conversation, which would otherwise hold the turn until it
expires (Rasa's 60 s); a service that only stopped answering (``request_timeout_s``) keeps
its lock. With
no other service to send it to, a lost turn fails the same way. Hand-off
records decided in the call (silence, failed transfer) and messages taken in the call are
written here, so they are kept even while the dialog service is down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from voicebot.dialog.bridge import Conversation, ConversationKeeper
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

CONNECT_S = 2.0
"""Longest wait for a dialog service to accept a connection (a host that vanished), s."""
LOST = "the dialog service closed during the request or did not answer in time"


class RemoteDialog(ConversationKeeper):
    """The session's dialog bridge over the dialog service (see the module docstring)."""

    def __init__(
        self,
        address: Address,
        *,
        peers: list[Address] | tuple[Address, ...] = (),
        reconnect_s: float = 60.0,
        timeout_s: float = 30.0,
        handoffs: HandoffLog | None = None,
        messages: MessageStore | None = None,
    ) -> None:
        super().__init__(handoffs=handoffs, messages=messages)
        self.address = address
        self.addresses = [address, *peers]
        self.reconnect_s = reconnect_s
        self.timeout_s = timeout_s
        self._events: dict[str, int] = {}  # call -> tracker events stored after its last turn

    # ------------------------------------------------------------------ service calls

    async def _request(self, message: dict[str, Any], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.reconnect_s
        lost: str | None = None  # the service that died with this request, if any
        while True:
            for address in self.addresses:
                try:
                    reader, writer = await open_async(address, min(CONNECT_S, self.timeout_s))
                except ServiceUnavailable:
                    continue
                reply: dict[str, Any] | None = None
                how = "closed"
                try:
                    await write_frame(writer, message)
                    reply = await asyncio.wait_for(read_frame(reader), self.timeout_s)
                except TimeoutError:
                    how = "timeout"
                except (OSError, ServiceError):
                    pass
                finally:
                    writer.close()
                if reply is None:
                    if lost is not None or len(self.addresses) == 1:
                        raise DialogError(f"{what}: {LOST}")
                    lost = str(address)
                    log.warning(
                        "%s for %s: the dialog service at %s %s during the request",
                        what, message.get("call_id"), lost,
                        "died" if how == "closed" else "did not answer in time",
                    )  # fmt: skip
                    # the next one checks the turn was not taken; "closed": the dead
                    # service's lock on the conversation may be broken
                    message = {**message, "resend": how}
                    continue
                if address is not self.address:
                    log.warning(
                        "%s for %s: answered by the dialog service at %s (%s)",
                        what, message.get("call_id"), address,
                        f"the one at {lost} failed" if lost else f"{self.address} is down",
                    )  # fmt: skip
                return raise_for(reply, what)
            if lost is not None:
                raise DialogError(f"{what}: {LOST}")
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"{what}: no dialog service ({', '.join(map(str, self.addresses))}) "
                    f"answered within {self.reconnect_s:.0f} s"
                )
            await asyncio.sleep(RETRY_PAUSE_S)

    async def _turn(self, message: dict[str, Any], what: str) -> DialogReply:
        call_id = message["call_id"]
        message["conv"] = conversation_to_wire(self.conversation(call_id))
        message["events"] = self._events.get(call_id, 0)
        reply = await self._request(message, what)
        self._events[call_id] = int(reply.get("events") or 0)
        self._conversations[call_id] = conversation_from_wire(reply["conv"])
        return reply_from_wire(reply["reply"])

    def forget(self, call_id: str) -> Conversation | None:
        self._events.pop(call_id, None)
        return super().forget(call_id)

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
