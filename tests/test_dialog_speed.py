"""What makes a dialog turn cheaper must not change what it decides (issue 11).

* A yes/no-ish turn runs the NLU graph once (the bridge's own parse goes to Rasa), and Rasa
  stores the same parse it would have made itself. Real trained model and action server.
* The redacting tracker store traces the tracker Rasa retrieves and saves in a turn, and
  counts stored events without deserialising them: the same numbers as Rasa's own
  retrieval, on a real SQLite store, Rasa's in-memory store and a real redis-server.
* Rasa's action-result validation with a validator built once accepts and rejects the same
  answers with the same messages as Rasa's own.
* The dialog service's thread limits reach NumPy's BLAS (threadpoolctl reads the real
  library in a fresh interpreter).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from voicebot.dialog.bridge import DialogBridge
from voicebot.handoff import HandoffLog
from voicebot.messages import MessageStore

ROOT = Path(__file__).resolve().parents[1]


def test_a_yes_no_turn_runs_the_nlu_once(
    rasa_agent, event_loop_runner, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    bridge = DialogBridge(
        rasa_agent,
        handoffs=HandoffLog(tmp_path / "h.jsonl"),
        messages=MessageStore(tmp_path / "m.sqlite3"),
    )
    processor = rasa_agent.processor
    calls: list[str] = []
    real = processor._parse_message_with_graph

    def counted(message, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(message.text)
        return real(message, *args, **kwargs)

    run = event_loop_runner.run_until_complete
    run(bridge.start("speed-1"))
    run(bridge.handle("speed-1", "what time are you open on saturday"))
    monkeypatch.setattr(processor, "_parse_message_with_graph", counted)
    text = "no thanks goodbye"  # a clear "no" that the NLU reads as goodbye: not overruled
    reply = run(bridge.handle("speed-1", text))
    assert calls == [text], calls
    assert reply.intent == "goodbye" and reply.ended
    tracker = run(rasa_agent.tracker_store.retrieve("speed-1"))
    stored = [e for e in tracker.events if getattr(e, "type_name", "") == "user"][-1]
    fresh = run(rasa_agent.parse_message(text))
    assert stored.parse_data["intent"] == fresh["intent"]
    assert stored.parse_data["entities"] == fresh["entities"]
    assert stored.parse_data.get("intent_ranking") == fresh.get("intent_ranking")


def _tracker(domain: Any, sender: str) -> Any:
    from rasa.shared.core.events import ActiveLoop, SessionStarted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    return DialogueStateTracker.from_events(
        sender,
        [
            SessionStarted(),
            UserUttered("check my balance", {"name": "check_balance", "confidence": 1.0}),
            ActiveLoop("identification_form"),
            SlotSet("requested_slot", "pin"),
            UserUttered("four three two one", {"name": "inform", "confidence": 1.0}),
            SlotSet("pin", "four three two one"),
        ],
        slots=domain.slots,
    )


def _check_store(spec: str, sender: str) -> None:
    from rasa.shared.core.domain import Domain

    from voicebot.dialog.stores import create_stores, stored_event_count, trace_turn, traced

    domain = Domain.load(str(ROOT / "dialogs" / "domain.yml"))
    store, _ = create_stores(spec, domain)
    assert traced(store)

    async def go() -> None:
        assert await stored_event_count(store, sender) == 0
        tracker = _tracker(domain, sender)
        with trace_turn() as trace:
            assert await store.retrieve(sender) is None
            await store.save(tracker)
        assert trace.retrieved == {sender: 0}
        saved = trace.saved[sender]
        assert len(saved.events) == len(tracker.events)
        assert saved.get_slot("pin") is None  # what is written: no secret
        back = await store.retrieve(sender)
        assert [e.as_dict() for e in back.events] == [e.as_dict() for e in saved.events]
        assert back.current_slot_values() == saved.current_slot_values()
        full = await store.retrieve_full_tracker(sender)
        assert await stored_event_count(store, sender) == len(full.events) == len(tracker.events)
        with trace_turn() as trace:
            await store.retrieve(sender)
        assert trace.retrieved == {sender: len(tracker.events)} and not trace.saved
        await store.delete(sender)
        assert await stored_event_count(store, sender) == 0

    asyncio.run(go())


@pytest.mark.parametrize("spec", ["memory", "sqlite:speed/trackers.sqlite3"])
def test_traced_turns_and_counts_match_rasas_retrieval(spec, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VOICEBOT_VAR", str(tmp_path))
    _check_store(spec, f"speed-{spec[:6]}")


def test_counts_on_redis(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    from _redis import redis_server

    with contextlib.contextmanager(redis_server)(tmp_path_factory.mktemp("redis")) as url:
        _check_store(url, "speed-redis")


def test_cached_action_validation_is_rasas(rasa_agent) -> None:  # type: ignore[no-untyped-def]
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction

    from voicebot.dialog import rasa_patches

    assert RemoteAction._validate_action_result is rasa_patches._validate_action_result
    original = rasa_patches.rasa_validate_action_result
    action = RemoteAction("action_check_balance", None)
    answers: list[dict[str, Any]] = [
        {"events": [{"event": "slot", "name": "pin", "value": None}], "responses": []},
        {"events": [], "responses": [{"text": "hi"}]},
        {"events": "not a list", "responses": []},
        {"events": [{"event": "no_such_event"}], "responses": []},
        {"events": [], "responses": ["not an object"]},
    ]
    kinds = []
    for answer in answers:
        outcomes = []
        for method in (original, rasa_patches._validate_action_result):
            try:
                outcomes.append(("ok", method(action, json.loads(json.dumps(answer)))))
            except ValidationError as exc:
                outcomes.append(("error", exc.message))
        assert outcomes[0] == outcomes[1], answer
        kinds.append(outcomes[0][0])
    assert kinds == ["ok", "ok", "error", "error", "error"]
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": "not a list"})


def test_the_service_thread_limits_reach_blas() -> None:
    code = (
        "from voicebot.dialog.rasa_patches import limit_threads; limit_threads(); "
        "import numpy, json, threadpoolctl; "
        "print(json.dumps([p['num_threads'] for p in threadpoolctl.threadpool_info()]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts and all(n == 1 for n in counts), counts
