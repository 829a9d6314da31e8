"""The hand-off desk is the only writer of hand-off records and caller messages.

Two checks that a second writer cannot slip in:

* a static one: no module of the ``voicebot`` package but :mod:`voicebot.center.handoff_desk`
  names the stores' write methods (``HandoffLog.append_record``, ``MessageStore.add_message``,
  also as a ``getattr`` string) or writes the messages table with its own SQL; the scanner
  itself is shown to catch a direct write;
* a dynamic one: every write made during real calls of the bridge, the session's message
  taking and the failure path comes from the desk (the stores are wrapped to note the
  calling module). The dialog turns use the trained Rasa model and the action server.

Plus what the desk promises: the written record's reference is the one the transfer's SIP
headers carry, a message is stored with its recording before the conversation says so, and
a failed store leaves the conversation without a message.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from voicebot.center.handoff_desk import HandoffDesk
from voicebot.dialog.bridge import Conversation
from voicebot.errors import StoreError
from voicebot.events import Handoff, HandoffReason
from voicebot.handoff import HandoffLog, Turn
from voicebot.messages import MessageStore

PACKAGE = Path(__file__).resolve().parent.parent / "voicebot"
DESK = "voicebot/center/handoff_desk.py"
WRITE_METHODS = frozenset({"append_record", "add_message"})
"""The stores' write methods (HandoffLog, MessageStore): only the desk calls them."""
OWN_SQL = {"voicebot/messages.py"}
"""The message store's own module, the only one with SQL on the messages table."""
_SQL_WRITE = re.compile(r"\b(INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+messages\b", re.I)


def direct_writes(source: str, name: str) -> list[str]:
    """Where module ``name`` (path relative to the repo) writes a hand-off record or a
    message without the desk: ``name:line: what``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in WRITE_METHODS and name != DESK:
            found.append((node.lineno, f".{node.attr}"))
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in WRITE_METHODS and name != DESK:
                found.append((node.lineno, f"'{node.value}'"))
            if _SQL_WRITE.search(node.value) and name not in OWN_SQL:
                found.append((node.lineno, "SQL on messages"))
    return [f"{name}:{line}: {what}" for line, what in sorted(found)]


def package_modules() -> Iterator[tuple[str, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield str(path.relative_to(PACKAGE.parent)), path.read_text(encoding="utf-8")


def test_no_module_but_the_desk_writes_records_or_messages() -> None:
    modules = list(package_modules())
    assert len(modules) > 100 and any(name == DESK for name, _ in modules)
    found = [hit for name, source in modules for hit in direct_writes(source, name)]
    assert found == [], "write through voicebot.center.handoff_desk.HandoffDesk instead"


def test_the_scanner_catches_a_second_writer() -> None:
    sneaky = (
        "def keep(bridge, conv, text):\n"
        "    bridge.desk.messages.add_message(call_id=conv.call_id, department='x', reason='y',\n"
        "                                text=text, transcript=[])\n"
        "    getattr(bridge.desk.handoffs, 'append_record')(None)\n"
        "    bridge.db.execute('insert into messages (text) values (?)', (text,))\n"
    )
    hits = direct_writes(sneaky, "voicebot/session_exits.py")
    assert [h.split(": ", 1)[1] for h in hits] == [
        ".add_message",
        "'append_record'",
        "SQL on messages",
    ]
    # the desk may call the write methods, but even it goes through the store, not SQL
    assert direct_writes(sneaky, DESK) == [f"{DESK}:5: SQL on messages"]
    assert direct_writes("bridge.desk.take_message(conv, {})\n", "voicebot/fallback.py") == []


# ---------------------------------------------------------------------------- the desk


def _handoff(**kw: Any) -> Handoff:
    base: dict[str, Any] = {
        "department": "billing",
        "reason": HandoffReason.REQUESTED,
        "transfer_uri": "sip:billing@127.0.0.1",
        "slots": {"account_number": "12345678", "pin": "4321"},
        "summary": "account 12345678 disputes a charge",
    }
    return Handoff(**{**base, **kw})


@pytest.fixture()
def desk(tmp_path: Path) -> HandoffDesk:
    return HandoffDesk(
        HandoffLog(tmp_path / "handoffs.jsonl"),
        MessageStore(tmp_path / "messages.sqlite3"),
        recordings=tmp_path / "recordings",
    )


def test_the_transfer_headers_carry_the_written_records_reference(desk: HandoffDesk) -> None:
    conv = Conversation("c-1", caller_id="+441632960001", sip_call_id="a/../b")
    conv.transcript.append(Turn("caller", "my bill is wrong"))
    written = desk.record(conv, _handoff())
    [line] = desk.handoffs.read_all()
    assert line["reference"] == written.reference and conv.handoff_reference == line["reference"]
    assert line["slots"] == {"account_number": "****5678"}  # redacted: no PIN, masked account
    assert "12345678" not in line["summary"]
    headers = desk.record_for(conv, _handoff()).sip_headers()
    assert headers["X-Voicebot-Customer"].startswith(f"ref={written.reference};")
    # another hand-off of the same call (not written) gets a reference of its own
    other = desk.record_for(conv, _handoff(department="support_l2"))
    assert other.reference != written.reference


def test_a_message_is_stored_with_its_recording_before_the_call_says_so(
    desk: HandoffDesk,
) -> None:
    conv = Conversation("c-2", caller_id="+441632960002")
    conv.transcript.append(Turn("caller", "call me back"))
    audio = (3000 * np.sin(np.arange(8000) / 5)).astype(np.int16)
    message = {"department": "contracts", "reason": "transfer_failed", "text": ""}
    message_id = desk.take_message(
        conv, message, stored_text="[recording only]", audio=audio, rate=8000
    )
    [stored] = desk.messages.all()
    assert stored.id == message_id and conv.message is message
    assert (stored.department, stored.reason, stored.text) == (
        "contracts",
        "transfer_failed",
        "[recording only]",
    )
    assert stored.transcript == [Turn("caller", "call me back")]
    assert stored.recording_path is not None
    assert Path(stored.recording_path).parent == desk.recordings
    assert Path(stored.recording_path).stat().st_size > 16000  # 1 s of 16-bit audio


def test_a_message_not_stored_leaves_the_conversation_without_one(
    desk: HandoffDesk, tmp_path: Path
) -> None:
    conv = Conversation("c-3")
    desk.messages.close()  # every write now fails
    with pytest.raises(StoreError):
        desk.take_message(conv, {"department": "billing", "reason": "x", "text": "hi"})
    assert conv.message is None


# ---------------------------------------------------------------------------- real calls


@pytest.fixture()
def writers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The module of every caller of the stores' write methods, in order."""
    seen: list[str] = []

    def watch(cls: type, method: str) -> None:
        real = getattr(cls, method)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            caller = inspect.stack()[1].frame.f_globals.get("__name__", "?")
            seen.append(f"{caller}.{method}")
            return real(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, wrapper)

    watch(HandoffLog, "append_record")
    watch(MessageStore, "add_message")
    return seen


def test_every_write_of_real_calls_comes_from_the_desk(
    rasa_agent: Any, event_loop_runner: Any, tmp_path: Path, writers: list[str]
) -> None:
    """The dialog's hand-off and out-of-hours message (trained model, action server), the
    silence hand-off as the session records it, and the message taken after a failed
    transfer (SessionExits) all reach the stores through the desk."""
    from voicebot.dialog.bridge import DialogBridge
    from voicebot.session_config import SessionConfig
    from voicebot.session_exits import SessionExits

    bridge = DialogBridge(
        rasa_agent,
        handoffs=HandoffLog(tmp_path / "handoffs.jsonl"),
        messages=MessageStore(tmp_path / "messages.sqlite3"),
    )
    run = event_loop_runner.run_until_complete
    run(bridge.start("desk-1"))
    reply = run(bridge.handle("desk-1", "can i speak to a real person please"))
    assert reply.handoff is not None
    run(bridge.start("desk-2"))
    run(bridge.handle("desk-2", "i want to cancel my contract"))
    run(bridge.handle("desk-2", "yes please"))
    reply = run(bridge.handle("desk-2", "please call me back about cancelling my contract"))
    assert reply.message is not None
    bridge.record_handoff("desk-3", _handoff(reason=HandoffReason.NO_INPUT))

    line = SimpleNamespace(call_id="desk-4", rate=8000)  # no audio: no line needed
    exits = SessionExits(
        line,  # type: ignore[arg-type]
        bridge,
        None,  # type: ignore[arg-type]  # no recogniser: nothing is heard here
        SessionConfig(record_messages=False),
        None,
        asyncio.Event(),
        None,  # type: ignore[arg-type]  # no failure path here
        [],
        [],
    )
    exits.taking_message = _handoff(reason=HandoffReason.TRANSFER_FAILED)
    exits.store_message("please ring me tomorrow", None)

    assert writers == [
        "voicebot.center.handoff_desk.append_record",
        "voicebot.center.handoff_desk.add_message",
        "voicebot.center.handoff_desk.append_record",
        "voicebot.center.handoff_desk.add_message",
    ]
    stored = bridge.desk.messages.all()
    assert [m.call_id for m in stored] == ["desk-2", "desk-4"]
    assert [r["call_id"] for r in bridge.desk.handoffs.read_all()] == ["desk-1", "desk-3"]
