"""Rasa's RedisTrackerStore and RedisLockStore behind the redacting wrapper, on a real
redis-server (Debian's, started by voicebot's RedisServer on a free port with a password and
no persistence)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """voicebot's one redis-server starter, with a password the stores must send."""
    from voicebot.center.redis_server import RedisServer, RedisSettings

    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server (Debian package) not installed: scripts/bootstrap.sh dev")
        pytest.skip("redis-server (Debian package redis-server) not installed")
    settings = RedisSettings(port=_free_port(), password="store-test-pw")
    with RedisServer(settings, tmp_path_factory.mktemp("redis")):
        yield settings.url


def test_redis_store_saves_without_secrets_locks_and_deletes(redis_url: str) -> None:
    from rasa.core.lock_store import RedisLockStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActiveLoop, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from voicebot.dialog.stores import create_stores

    domain = Domain.load(str(ROOT / "dialogs" / "domain.yml"))
    store, lock = create_stores(redis_url, domain)
    assert isinstance(lock, RedisLockStore)
    tracker = DialogueStateTracker.from_events(
        "call-redis-1",
        [
            UserUttered("check my balance", {"name": "check_balance", "confidence": 1.0}),
            ActiveLoop("identification_form"),
            SlotSet("requested_slot", "pin"),
            UserUttered("four three two one", {"name": "inform", "confidence": 1.0}),
            SlotSet("pin", "four three two one"),
            SlotSet("date_of_birth", "1975-05-05"),
        ],
        slots=domain.slots,
    )

    async def scenario() -> tuple[str, object, bool]:
        await store.save(tracker)
        raw = str(store.inner.red.get(store.inner.key_prefix + "call-redis-1"))  # type: ignore[attr-defined]
        back = await store.retrieve("call-redis-1")
        async with lock.lock("call-redis-1"):  # held in Redis, visible to every host
            locked = lock.get_lock("call-redis-1") is not None
        await store.delete("call-redis-1")  # type: ignore[attr-defined]
        gone = await store.retrieve("call-redis-1") is None
        return raw, back, locked and gone

    raw, back, deleted = asyncio.run(scenario())
    assert "check my balance" in raw  # the conversation is stored ...
    assert "four three two one" not in raw and "1975" not in raw  # ... without secrets
    assert back is not None and back.get_slot("pin") is None
    assert back.active_loop_name == "identification_form"  # the form survives
    assert deleted
