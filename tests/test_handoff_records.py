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
    log.append_record(_record())
    log.append_record(_record())
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
    log.append_record(_record())
    with open(path, "a") as fh:
        fh.write('{"call_id": "half')  # the process died mid-write
    assert [r["call_id"] for r in log.read_all()] == ["call-1"]


def test_sip_headers_carry_context_without_secrets() -> None:
    headers = _record().sip_headers()
    assert headers["X-Voicebot-Intent"] == "billing_question"
    assert headers["X-Voicebot-Reason"] == "routed"
    record = _record()
    assert headers["X-Voicebot-Customer"].startswith("ref=h-")
    assert headers["X-Voicebot-Customer"].endswith("; name=unidentified; account=****5678")
    assert "12345678" not in json.dumps(headers)
    assert record.sip_headers()["X-Voicebot-Customer"].split(";")[0] == f"ref={record.reference}"


def test_customer_header_carries_a_reference_and_a_masked_name_only() -> None:
    """The README's promise: X-Voicebot-Customer is masked (no full name, no account)."""
    handoff = Handoff(
        "billing",
        HandoffReason.ROUTED,
        "sip:billing@127.0.0.1",
        True,
        "billing_question",
        {"customer_name": "Alice Morgan", "account_number": "12345678", "identified": True},
        "Caller about a billing question; identified as Alice Morgan, account 12345678.",
    )
    record = HandoffRecord.from_handoff(
        "c-20261123T183000-abcdef0a0b0c", handoff, [], "+441632960001", "../../etc/passwd"
    )
    headers = record.sip_headers()
    customer = headers["X-Voicebot-Customer"]
    assert customer == f"ref={record.reference}; name=Alice M.; account=****5678"
    assert "Morgan" not in json.dumps(headers) and "12345678" not in json.dumps(headers)
    assert "identified as Alice M., account ****5678" in headers["X-Voicebot-Summary"]
    assert headers["X-Voicebot-Call-Id"] == "c-20261123T183000-abcdef0a0b0c"
    # the agent's screen (the record) keeps the name; the SIP Call-ID is data in it
    assert record.slots["customer_name"] == "Alice Morgan"
    assert record.sip_call_id == "../../etc/passwd"
    assert record.reference.startswith("h-") and record.reference != _record().reference


def test_header_values_are_one_line_whatever_the_caller_said() -> None:
    handoff = Handoff(
        "billing",
        HandoffReason.ROUTED,
        summary="postcode SW1A\r\nX-Evil: 1\x00 and more",
        intent="billing_question\r\nVia: x",
        slots={"customer_name": "Eve\r\nX-Injected: yes"},
    )
    headers = HandoffRecord.from_handoff("c-1", handoff, [], None).sip_headers()
    for value in headers.values():
        assert "\r" not in value and "\n" not in value and "\x00" not in value, value
        assert value.isprintable() and value.strip() == value and value


def test_message_store_keeps_the_sip_call_id_as_data(tmp_path: Path) -> None:
    path = tmp_path / "messages.sqlite3"
    # a store made before the sip_call_id column existed is upgraded in place
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL,"
        " call_id TEXT NOT NULL, caller_id TEXT, department TEXT NOT NULL, reason TEXT NOT NULL,"
        " text TEXT NOT NULL, transcript TEXT NOT NULL, recording_path TEXT)"
    )
    old.commit()
    old.close()
    store = MessageStore(path)
    store.add_message(
        call_id="c-20261123T183000-abcdef0a0b0c",
        department="billing",
        reason="technical_error",
        text="please call back",
        transcript=[],
        sip_call_id="<script>/../x",
    )
    msg = store.all()[0]
    assert msg.sip_call_id == "<script>/../x" and msg.call_id.startswith("c-")


def test_message_survives_a_new_process(tmp_path: Path) -> None:
    path = tmp_path / "messages.sqlite3"
    store = MessageStore(path)
    msg_id = store.add_message(
        call_id="c1",
        department="contracts",
        reason="out_of_hours",
        text="call me back about account 12345678",
        transcript=[Turn("caller", "i am moving")],
        caller_id="+441632960002",
        recording_path="/tmp/x.wav",
    )
    assert msg_id == 1
    # no close(): as if the process died right after add_message() returned
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
