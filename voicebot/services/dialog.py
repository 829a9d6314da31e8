"""The dialog service: one Rasa agent for every call of the host.

Run by ``voicebot serve`` as ``python -m voicebot.services.dialog``. Conversations live in
the tracker store ``dialog.tracker_store`` names (SQLite under var/ by default, Redis for
several hosts), with secrets removed before anything is written
(:mod:`voicebot.dialog.stores`), so a restarted service goes on with every call where it
stopped. What the bridge remembers besides Rasa's state (transcript, intents, hand-off) is
kept by the caller's worker and sent with every request, so the service holds no call
state of its own. Operations (``call_id`` is the worker's key for the call):

``start``   ``{call_id, caller_id, conv, events}`` -> ``{reply, conv, events}``: session start
            and greeting
``handle``  ``{call_id, text, conv, events}`` -> ``{reply, conv, events}``: one caller turn
``survey``  ``{call_id, intent, script, conv, events}`` -> ``{reply, conv, events}``: start an
            outbound survey
``end``     ``{call_id}``: the call is over: its stored conversation is deleted
``health``  counters, memory, tracker store

``events`` is the number of tracker events stored after the call's last turn. A turn
marked ``resend`` was lost with another host's dialog service while it answered it:
``closed`` (the process died: its lock on the conversation is broken here) or ``timeout``.
When the shared store holds more events than the worker last saw, that service had
already taken the turn, and this one refuses it (a :class:`DialogError`: the call's failure
path) rather than answer it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from voicebot.dialog.bridge import DialogBridge
from voicebot.errors import DialogError, VoicebotError
from voicebot.services.dialog_wire import (
    conversation_from_wire,
    conversation_to_wire,
    reply_to_wire,
)
from voicebot.services.server import Reply, Service, service_main, write_status

log = logging.getLogger(__name__)


def _call_id(request: dict[str, Any]) -> str:
    call_id = request.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise DialogError("request without a call_id")
    return call_id


class DialogService(Service):
    name = "dialog"

    def __init__(self, bridge: DialogBridge, store: str, status: Path | None = None) -> None:
        super().__init__()
        self.status_path = status
        self.bridge = bridge
        self.store = store
        self.greeting: tuple[str, ...] = ()
        self.ops = {
            "start": self.start,
            "handle": self.handle,
            "end": self.end,
            "survey": self.survey,
        }
        # one lock per call with a request in flight: an ``end`` that arrives while the
        # call's turn is still running (the worker gave up waiting) waits for that turn, so
        # the turn never finds its conversation gone and never saves state after the delete
        self._call_locks: dict[str, asyncio.Lock] = {}
        self._call_users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def _call_lock(self, call_id: str) -> Any:
        lock = self._call_locks.setdefault(call_id, asyncio.Lock())
        self._call_users[call_id] = self._call_users.get(call_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._call_users[call_id] -= 1
            if not self._call_users[call_id]:
                del self._call_users[call_id], self._call_locks[call_id]

    def health(self) -> Reply:
        from voicebot.dialog.stores import redact_url

        return self.stats.health(tracker_store=redact_url(self.store))

    def _restore(self, call_id: str, request: dict[str, Any]) -> None:
        conv = request.get("conv")
        if isinstance(conv, dict):
            self.bridge._conversations[call_id] = conversation_from_wire(conv)

    async def _turn(self, op: str, request: dict[str, Any]) -> Reply:
        call_id = _call_id(request)
        async with self._call_lock(call_id):
            return await self._turn_locked(op, call_id, request)

    async def _turn_locked(self, op: str, call_id: str, request: dict[str, Any]) -> Reply:
        mark = self.stats.running(op, self.stats.queued(op))
        ok = False
        try:
            if request.get("resend"):
                await self._check_not_taken(call_id, request)
            self._restore(call_id, request)
            if op == "start":
                reply = await self.bridge.start(
                    call_id, request.get("caller_id"), request.get("sip_call_id")
                )
            elif op == "survey":
                reply = await self.bridge.start_survey(
                    call_id, str(request.get("intent", "")), str(request.get("script", ""))
                )
            else:
                reply = await self.bridge.handle(call_id, str(request.get("text", "")))
            ok = True
            conv = self.bridge.forget(call_id)  # the worker keeps it; nothing stays here
            if conv is None:  # pragma: no cover - the call lock keeps ``end`` out meanwhile
                raise DialogError(f"call {call_id}: its conversation ended during the turn")
            return {
                "reply": reply_to_wire(reply),
                "conv": conversation_to_wire(conv),
                "events": await self._stored_events(call_id),
            }
        finally:
            self.stats.done(op, mark, ok)

    async def _stored_events(self, call_id: str) -> int:
        """How many events the tracker store holds for the call (0: none)."""
        from voicebot.dialog.stores import stored_event_count

        return await stored_event_count(self.bridge.agent.tracker_store, call_id)

    async def _check_not_taken(self, call_id: str, request: dict[str, Any]) -> None:
        if request.get("resend") == "closed":  # its service died holding the lock
            self.bridge.agent.lock_store.delete_lock(call_id)
        stored, seen = await self._stored_events(call_id), int(request.get("events") or 0)
        if stored > seen:
            log.warning("call %s: a resent turn was already taken (%d > %d)", call_id, stored, seen)
            raise DialogError("the dialog service that died during this turn had already taken it")

    async def start(self, request: dict[str, Any]) -> Reply:
        return await self._turn("start", request)

    async def handle(self, request: dict[str, Any]) -> Reply:
        return await self._turn("handle", request)

    async def survey(self, request: dict[str, Any]) -> Reply:
        return await self._turn("survey", request)

    async def prepare(self) -> None:
        """One throw-away conversation (the first prediction is slow), then deleted."""
        from voicebot.dialog.stores import delete_conversation

        write_status(self.status_path, "warming the dialog model")
        began = time.monotonic()
        call_id = f"warm-up-{time.time_ns()}"
        try:
            self.greeting = (await self.bridge.start(call_id)).texts
            await self.bridge.handle(call_id, "hello")
        except Exception as exc:  # noqa: BLE001 - warming is best effort; calls report errors
            log.warning("dialog warm-up failed: %s", exc)
        finally:
            self.bridge.forget(call_id)
            await delete_conversation(self.bridge.agent.tracker_store, call_id)
            log.info("dialog model warmed in %.1f s", time.monotonic() - began)

    def after_ready(self) -> None:
        """Have the speech service cache the greeting (what the warm-up call was told), so
        the first caller does not wait for its synthesis; in the background."""
        if self.greeting:
            threading.Thread(target=cache_speech, args=(self.greeting,), daemon=True).start()

    async def end(self, request: dict[str, Any]) -> Reply:
        call_id = _call_id(request)
        from voicebot.dialog.stores import delete_conversation

        async with self._call_lock(call_id):  # after a turn still running for this call
            self.bridge.forget(call_id)
            await delete_conversation(self.bridge.agent.tracker_store, call_id)
        return {}


def cache_speech(texts: tuple[str, ...]) -> None:
    """Synthesize ``texts`` in this host's speech service (its prompt cache keeps them)."""
    from voicebot.config import load_settings
    from voicebot.services.client import ServiceClient, wait_healthy
    from voicebot.services.settings import services_config

    try:
        address = services_config(load_settings()).speech()
        wait_healthy(address, 120.0, "speech service")
        client = ServiceClient(address, reconnect_s=10.0)
        for text in texts:
            for _ in client.stream({"op": "speak", "text": text}, "greeting synthesis"):
                pass
        client.close()
        log.info("greeting cached in the speech service")
    except VoicebotError as exc:  # a cache miss only costs the first caller the synthesis
        log.warning("greeting not cached in the speech service: %s", exc)


def build(args: argparse.Namespace, status: Path | None) -> DialogService:
    from voicebot.config import load_settings
    from voicebot.dialog.model import latest_model, load_agent
    from voicebot.dialog.settings import dialog_config
    from voicebot.dialog.stores import create_stores, redact_url

    settings = load_settings()
    cfg = dialog_config(settings)
    with contextlib.suppress(OSError):  # the process's age: its Python and Rasa imports
        age = time.time() - os.stat(f"/proc/{os.getpid()}").st_ctime
        log.info("imports (Rasa, TensorFlow) took %.1f s", age)
    started = time.monotonic()
    write_status(status, f"opening the tracker store ({redact_url(cfg.tracker_store)})")
    tracker_store, lock_store = create_stores(cfg.tracker_store)
    write_status(status, "loading the dialog model (Rasa, about 30 s)")
    agent = load_agent(
        latest_model(cfg.models_path()),
        cfg.action_endpoint,
        tracker_store=tracker_store,
        lock_store=lock_store,
    )
    bridge = DialogBridge(agent)
    log.info("dialog model loaded in %.1f s (unpack and components)", time.monotonic() - started)
    return DialogService(bridge, cfg.tracker_store, status)


def main(argv: list[str] | None = None) -> int:
    from voicebot.dialog.rasa_patches import limit_threads

    limit_threads()  # before NumPy and TensorFlow are imported
    return service_main("dialog", build, argv)


if __name__ == "__main__":
    sys.exit(main())
