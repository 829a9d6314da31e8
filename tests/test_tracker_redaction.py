"""What the tracker store is given: no PIN, no date of birth (pure unit tests of the
redaction; tests/test_dialog_service.py reads the real SQLite store after real turns)."""

from __future__ import annotations

from voicebot.dialog.stores import REDACTED, redact_events


def _events() -> list[dict]:
    return [
        {"event": "user", "text": "check my balance", "parse_data": {"text": "check my balance"}},
        {"event": "slot", "name": "requested_slot", "value": "account_number"},
        {"event": "user", "text": "23456789", "parse_data": {"text": "23456789", "entities": []}},
        {"event": "slot", "name": "account_number", "value": "23456789"},
        {"event": "slot", "name": "requested_slot", "value": "pin"},
        {
            "event": "user",
            "text": "four three two one",
            "parse_data": {
                "text": "four three two one",
                "entities": [{"entity": "number", "value": "4321"}],
                "intent": {"name": "inform"},
            },
        },
        {"event": "slot", "name": "pin", "value": "four three two one"},
        {"event": "slot", "name": "pin", "value": None},
        {"event": "slot", "name": "date_of_birth", "value": "1980-03-12"},
        {"event": "slot", "name": "requested_slot", "value": None},
        {"event": "active_loop", "name": None},
        {"event": "user", "text": "what about four three two one", "parse_data": {}},
        {"event": "user", "text": "no thanks goodbye", "parse_data": {"text": "no thanks"}},
    ]


def test_secret_slots_are_emptied_and_answers_redacted() -> None:
    events = _events()
    out = redact_events(events)
    assert len(out) == len(events)  # stores append by position: the count must not change
    text = repr(out)
    assert "four three two one" not in text and "4321" not in text and "1980" not in text
    pin_answer = out[5]
    assert pin_answer["text"] == REDACTED and pin_answer["parse_data"]["entities"] == []
    assert pin_answer["parse_data"]["intent"] == {"name": "inform"}  # the dialog needs it
    assert out[2]["text"] == REDACTED  # the account number answer
    assert out[3]["value"] == "23456789"  # kept: the balance look-up needs it after a restart
    assert out[11]["text"] == REDACTED  # the PIN said again, outside the question
    assert out[12]["text"] == "no thanks goodbye"  # ordinary turns are kept
    assert events[5]["text"] == "four three two one"  # the live tracker is not changed
