"""One set of redaction rules (voicebot.redaction) for records, headers, messages and logs."""

from __future__ import annotations

import pytest

from voicebot import redaction
from voicebot.redaction import (
    for_log,
    mask_account,
    mask_digits,
    mask_name,
    mask_names_in,
    redact_answer,
    redact_slots,
)


def test_one_secret_slot_list_is_used_everywhere() -> None:
    import voicebot.handoff as handoff

    assert handoff.SECRET_SLOTS is redaction.SECRET_SLOTS
    assert {"pin", "date_of_birth", "message_text"} <= redaction.SECRET_SLOTS
    # the bridge no longer keeps its own list
    import voicebot.dialog.bridge as bridge

    assert not hasattr(bridge, "SECRET_SLOTS")


@pytest.mark.parametrize(
    ("name", "masked"),
    [("Alice Morgan", "Alice M."), ("Jean Paul Sartre", "Jean S."), ("Cher", "C."), ("", "")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_names_in_free_text() -> None:
    text = "identified as Alice Morgan; Ms Morgan asked"
    assert mask_names_in(text, "Alice Morgan") == "identified as Alice M.; Ms M. asked"
    assert mask_names_in(text, None) == text


def test_slots_and_free_text() -> None:
    slots = {"pin": "1234", "message_text": "my pin is 1234", "account_number": "12345678"}
    assert redact_slots(slots) == {"account_number": "****5678"}
    assert mask_account("12345678") == "****5678"
    assert mask_digits("call 07700900123 about 12345678, order 12") == (
        "call ****0123 about ****5678, order 12"
    )


def test_answers_to_identification_questions_are_redacted() -> None:
    assert redact_answer("1 2 3 4", "pin") == "[redacted]"
    assert redact_answer("12 March 1980", "date_of_birth") == "[redacted]"
    assert redact_answer("12345678", "account_number") == "[redacted]"
    assert redact_answer("my account is 12345678", None) == "my account is ****5678"


def test_log_values_are_one_masked_line() -> None:
    assert for_log("bad\r\nINFO forged line 12345678") == "bad INFO forged line ****5678"
    assert len(for_log("x" * 1000)) == 200
