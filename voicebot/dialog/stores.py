"""Where the dialog keeps conversations between turns: Rasa tracker and lock stores.

``dialog.tracker_store`` picks the store:

* ``sqlite`` (default): Rasa's SQLTrackerStore on ``var/dialog/trackers.sqlite3``; no server
  to install, survives a restart of the dialog service (one host).
* ``redis://HOST:PORT/DB``: Rasa's RedisTrackerStore plus RedisLockStore on that server, so
  dialog services on several hosts share conversations and never run one at the same time.
* ``memory``: Rasa's in-memory store (lost with the process; ``voicebot call``/``replay``).

Imports Rasa: only the dialog service (and in-process pipelines) load this module.

Every store is wrapped in :class:`RedactingTrackerStore`: what is written never holds a PIN
or a date of birth. Secret slot values are saved as empty, and the caller's words that
answered an identification question are saved as ``[redacted]`` (their intent is kept).
The dialog never needs them on a later turn: the form checks them in the turn they are
given and clears them. :meth:`RedactingTrackerStore.delete` removes a conversation when
its call ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import (
    InMemoryTrackerStore,
    RedisTrackerStore,
    SQLTrackerStore,
    TrackerStore,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from voicebot.errors import ConfigError, StoreError
from voicebot.paths import var_dir

log = logging.getLogger(__name__)

SECRET_SLOTS = frozenset({"pin", "date_of_birth"})
"""Slots whose values are never written to a store."""
ANSWER_SLOTS = frozenset({"pin", "date_of_birth", "account_number"})
"""Questions whose spoken answers are written as ``[redacted]``."""
REDACTED = "[redacted]"


def redact_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of serialized tracker events with secrets removed (see the module docstring)."""
    secrets: set[str] = set()
    for event in events:
        if event.get("event") == "slot" and event.get("name") in SECRET_SLOTS:
            if event.get("value") not in (None, ""):
                secrets.add(str(event["value"]).strip().lower())
    out: list[dict[str, Any]] = []
    asked: str | None = None
    for event in events:
        kind = event.get("event")
        if kind == "slot" and event.get("name") == "requested_slot":
            asked = event.get("value")
        elif kind == "active_loop" and not event.get("name"):
            asked = None
        if kind == "slot" and event.get("name") in SECRET_SLOTS and event.get("value"):
            event = {**event, "value": None}
        elif kind == "user":
            text = str(event.get("text") or "").strip().lower()
            if asked in ANSWER_SLOTS or (text and any(s and s in text for s in secrets)):
                parse = dict(event.get("parse_data") or {})
                parse.update({"text": REDACTED, "entities": []})
                event = {**event, "text": REDACTED, "parse_data": parse}
        out.append(event)
    return out


@dataclass
class TurnTrace:
    """What the store saw during one turn of the current asyncio task (see
    :func:`trace_turn`): the bridge needs the events before and after the turn and reads
    them here instead of deserialising the stored conversation twice more."""

    retrieved: dict[str, int] = field(default_factory=dict)
    """Sender -> number of events of the first tracker retrieved in the turn (the one Rasa
    handles the turn on, read under the conversation's lock; 0: none stored)."""
    saved: dict[str, DialogueStateTracker] = field(default_factory=dict)
    """Sender -> the tracker last saved in the turn, as written (secrets removed)."""


_trace: ContextVar[TurnTrace | None] = ContextVar("voicebot_turn_trace", default=None)


@contextmanager
def trace_turn() -> Iterator[TurnTrace]:
    """Record what :class:`RedactingTrackerStore` retrieves and saves in this task."""
    trace = TurnTrace()
    token = _trace.set(trace)
    try:
        yield trace
    finally:
        _trace.reset(token)


def traced(store: Any) -> bool:
    """Whether ``store`` (maybe inside Rasa's FailSafeTrackerStore) records turns."""
    return isinstance(getattr(store, "_tracker_store", store), RedactingTrackerStore)


class RedactingTrackerStore(TrackerStore):
    """A tracker store that saves trackers with secrets removed and can delete one."""

    def __init__(self, inner: TrackerStore) -> None:
        self.inner = inner
        super().__init__(inner.domain, None)

    @property
    def domain(self) -> Domain:
        return self.inner.domain

    @domain.setter
    def domain(self, domain: Domain | None) -> None:
        if hasattr(self, "inner"):
            self.inner.domain = domain

    def redacted(self, tracker: DialogueStateTracker) -> DialogueStateTracker:
        """A copy of ``tracker`` with the same number of events, secrets removed."""
        events = redact_events([e.as_dict() for e in tracker.events])
        return DialogueStateTracker.from_dict(
            tracker.sender_id, events, self.domain.slots, tracker._max_event_history
        )

    async def save(self, tracker: DialogueStateTracker) -> None:
        redacted = self.redacted(tracker)
        await self.inner.save(redacted)
        trace = _trace.get()
        if trace is not None:
            trace.saved[tracker.sender_id] = redacted

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        result: DialogueStateTracker | None = await self.inner.retrieve(sender_id)
        trace = _trace.get()
        if trace is not None and sender_id not in trace.retrieved:
            trace.retrieved[sender_id] = len(result.events) if result is not None else 0
        return result

    async def retrieve_full_tracker(self, sender_id: str) -> DialogueStateTracker | None:
        result: DialogueStateTracker | None = await self.inner.retrieve_full_tracker(sender_id)
        return result

    async def keys(self) -> Any:
        return await self.inner.keys()

    async def delete(self, sender_id: str) -> None:
        """Remove the conversation (its call ended)."""
        await delete_conversation(self.inner, sender_id)


async def delete_conversation(store: Any, sender_id: str) -> None:
    """Remove every stored event of ``sender_id`` (SQL, Redis or memory store)."""
    inner = getattr(store, "inner", None) or getattr(store, "_tracker_store", None)
    if inner is not None and inner is not store:
        await delete_conversation(inner, sender_id)
        return
    try:
        if hasattr(store, "session_scope"):  # SQLTrackerStore
            with store.session_scope() as session:
                session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == sender_id).delete()
                session.commit()
        elif hasattr(store, "red"):  # RedisTrackerStore
            store.red.delete(store.key_prefix + sender_id)
        elif hasattr(store, "store"):  # InMemoryTrackerStore
            store.store.pop(sender_id, None)
    except Exception as exc:  # noqa: BLE001 - the store's driver raises its own types
        raise StoreError(f"could not delete conversation state: {exc}") from exc


async def stored_event_count(store: Any, sender_id: str) -> int:
    """How many events the store holds for ``sender_id`` over all its sessions (0: none),
    counted without deserialising them (SQL: a COUNT; Redis and memory: the JSON's list)."""
    inner = getattr(store, "inner", None) or getattr(store, "_tracker_store", None)
    if inner is not None and inner is not store:
        return await stored_event_count(inner, sender_id)
    try:
        if hasattr(store, "session_scope"):  # SQLTrackerStore
            with store.session_scope() as session:
                query = session.query(store.SQLEvent)
                return int(query.filter(store.SQLEvent.sender_id == sender_id).count())
        raw: Any = None
        if hasattr(store, "red"):  # RedisTrackerStore
            raw = store.red.get(store.key_prefix + sender_id)
        elif isinstance(getattr(store, "store", None), dict):  # InMemoryTrackerStore
            raw = store.store.get(sender_id)
        else:
            tracker = await store.retrieve_full_tracker(sender_id)
            return len(tracker.events) if tracker is not None else 0
        return len(json.loads(raw).get("events") or []) if raw else 0
    except Exception as exc:  # noqa: BLE001 - the store's driver raises its own types
        raise StoreError(f"could not read conversation state: {exc}") from exc


def redact_url(spec: str) -> str:
    """``spec`` with a URL's password replaced by ``***`` (for logs and health answers)."""
    parts = urlsplit(spec)
    if not parts.password:
        return spec
    return spec.replace(f":{parts.password}@", ":***@", 1)


def _redis_parts(url: str) -> tuple[str, int, int, str | None]:
    """Host, port, database number and password (``redis://:PASSWORD@HOST:PORT/DB``)."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or not parts.hostname:
        raise ConfigError(
            f"settings section 'dialog': tracker_store {url!r} must be sqlite, memory or "
            "redis://HOST:PORT/DB"
        )
    db = parts.path.strip("/")
    return parts.hostname, parts.port or 6379, int(db) if db.isdigit() else 0, parts.password


def create_stores(spec: str, domain: Domain | None = None) -> tuple[TrackerStore, LockStore]:
    """The tracker store (redacting) and lock store ``dialog.tracker_store`` names."""
    inner: TrackerStore
    lock: LockStore = InMemoryLockStore()
    if spec == "memory":
        inner = InMemoryTrackerStore(domain)
    elif spec == "sqlite" or spec.startswith("sqlite:"):
        path = spec.partition(":")[2] or "dialog/trackers.sqlite3"
        full = var_dir() / path
        full.parent.mkdir(parents=True, exist_ok=True)
        inner = SQLTrackerStore(domain, dialect="sqlite", db=str(full))
    else:
        host, port, db, password = _redis_parts(spec)
        where = {"host": host, "port": port, "db": db, "password": password}
        try:
            inner = RedisTrackerStore(domain, key_prefix="voicebot", **where)
            inner.red.ping()
            lock = RedisLockStore(key_prefix="voicebot", **where)
        except Exception as exc:  # noqa: BLE001 - redis raises its own ConnectionError
            raise StoreError(
                f"cannot reach the Redis tracker store at {spec}: {exc}",
                hint="start redis-server, or set dialog.tracker_store: sqlite",
            ) from exc
    log.info("dialog tracker store: %s", redact_url(spec))
    return RedactingTrackerStore(inner), lock
