"""Hand-off records and caller messages: durable, and never holding secrets."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from voicebot.errors import StoreError
from voicebot.events import Handoff, HandoffReason
from voicebot.handoff import HandoffLog, HandoffRecord, Turn, mask_account, redact_slots
from voicebot.messages import MessageStore


def test_masking_keeps_last_four_digits_only() -> None:
    assert mask_account("12345678") == "****5678"
    assert mask_account("12 34 56 78") == "****5678"
    assert mask_account("12") == "****"


def test_redact_drops_secrets_and_masks_accounts() -> None:
    slots = {
        "pin": "1234",
        "date_of_birth": "1980-03-12",
        "account_number": "12345678",
        "postcode": "SW1A 1AA",
        "note": "my account is 12345678",
        "empty": None,
    }
    out = redact_slots(slots)
    assert "pin" not in out and "date_of_birth" not in out and "empty" not in out
    assert out["account_number"] == "****5678"
    assert out["note"] == "my account is ****5678"
    assert out["postcode"] == "SW1A 1AA"


def _record() -> HandoffRecord:
    handoff = Handoff(
        "billing",
        HandoffReason.ROUTED,
        "sip:billing@127.0.0.1",
        True,
        "billing_question",
        {"account_number": "12345678", "pin": "1234"},
        "bill too high for account 12345678",
    )
    transcript = [Turn("caller", "my bill is wrong"), Turn("bot", "Putting you through.")]
    return HandoffRecord.from_handoff("call-1", handoff, transcript, "+441632960001")


def test_record_is_written_durably_and_read_back(tmp_path: Path) -> None:
    log = HandoffLog(tmp_path / "handoffs.jsonl")
    log.write(_record())
    log.write(_record())
    records = log.read_all()
    assert len(records) == 2
    first = records[0]
    assert first["department"] == "billing" and first["reason"] == "routed"
    assert first["transcript"][0] == {"speaker": "caller", "text": "my bill is wrong"}
    raw = (tmp_path / "handoffs.jsonl").read_text()
    assert '1234"' not in raw and "12345678" not in raw  # no PIN, no full account number


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "handoffs.jsonl"
    log = HandoffLog(path)
    log.write(_record())
    with open(path, "a") as fh:
        fh.write('{"call_id": "half')  # the process died mid-write
    assert [r["call_id"] for r in log.read_all()] == ["call-1"]


def test_sip_headers_carry_context_without_secrets() -> None:
    headers = _record().sip_headers()
    assert headers["X-Voicebot-Intent"] == "billing_question"
    assert headers["X-Voicebot-Reason"] == "routed"
    assert headers["X-Voicebot-Customer"] == "****5678"
    assert "12345678" not in json.dumps(headers)


def test_message_survives_a_new_process(tmp_path: Path) -> None:
    path = tmp_path / "messages.sqlite3"
    store = MessageStore(path)
    msg_id = store.add(
        call_id="c1",
        department="contracts",
        reason="out_of_hours",
        text="call me back about account 12345678",
        transcript=[Turn("caller", "i am moving")],
        caller_id="+441632960002",
        recording_path="/tmp/x.wav",
    )
    assert msg_id == 1
    # no close(): as if the process died right after add() returned
    rows = sqlite3.connect(path).execute("SELECT department, text FROM messages").fetchall()
    assert rows == [("contracts", "call me back about account ****5678")]
    again = MessageStore(path).all()
    assert again[0].transcript == [Turn("caller", "i am moving")]
    assert again[0].recording_path == "/tmp/x.wav"


def test_corrupt_message_store_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "messages.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot be opened"):
        MessageStore(path)
