"""Pure text normalization for speech and the ASR-side normalizers (no models)."""

from __future__ import annotations

import pytest

from voicebot.asr.config import DEFAULT_DIGIT_WORDS
from voicebot.asr.normalize import digits_text, other_words, yes_no
from voicebot.tts.normalize import normalize, say_digits, say_money, say_time, split_sentences
from voicebot.tts.piper import sentence_chunks


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Your account 12345678 is open.", "Your account 1 2 3 4, 5 6 7 8 is open."),
        ("PIN 4071", "PIN 4 zero 7 1"),
        ("You owe £42.50 today.", "You owe 42 pounds 50 today."),
        ("That is $1.", "That is 1 dollar."),
        ("Fee €3.05", "Fee 3 euros 5 cents"),
        ("We open at 08:00.", "We open at eight a m."),
        ("Until 17:30 today", "Until five thirty p m today"),
        ("Energy & Telecom", "Energy and Telecom"),
        ("Press 1 or 22.", "Press 1 or 22."),
    ],
)
def test_normalize_reads_numbers_for_the_phone(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


def test_digit_groups_never_leave_one_digit_alone() -> None:
    assert say_digits("12345") == "1 2 3, 4 5"
    assert say_digits("000") == "zero zero zero"


def test_money_and_time_helpers() -> None:
    assert say_money("£", "1,250", "5") == "1250 pounds 50"
    assert say_time(0, 5) == "twelve oh five a m"
    assert say_time(12, 45) == "twelve forty five p m"


def test_sentences_and_first_chunk_split() -> None:
    assert split_sentences("Hello. How are you? Fine!") == ["Hello.", "How are you?", "Fine!"]
    long_first = "Thanks for calling Brightline Energy, how can I help you with your account today?"
    assert sentence_chunks(long_first) == [
        "Thanks for calling Brightline Energy,",
        "how can I help you with your account today?",
    ]


def test_asr_normalizers() -> None:
    assert digits_text("four oh 7 double one, nine", DEFAULT_DIGIT_WORDS) == "407119"
    assert digits_text("I don't know", DEFAULT_DIGIT_WORDS) == ""
    yes, no = ("yes", "yeah", "correct"), ("no", "nope")
    assert yes_no("Yeah, that's it.", yes, no) == "yes"
    assert yes_no("No.", yes, no) == "no"
    assert yes_no("that is not correct", yes, no) == "no"
    assert yes_no("I want an agent", yes, no) == "I want an agent"
    assert yes_no("Yes, not six, it's on you.", yes, no) == "yes"  # the answer leads
    # a yes and a no together: not sure either way, so the dialog asks again
    assert yes_no("no, yes", yes, no) == "no, yes"
    assert yes_no("Know, that's wrong.", yes, no) == "no"
    assert yes_no("Yeah, no.", yes, no) == "no"
    assert yes_no("No, that's not right", yes, no) == "no"
    assert yes_no("I think so, yes", yes, no) == "yes"


def test_other_words_counts_what_is_not_a_digit() -> None:
    words = DEFAULT_DIGIT_WORDS
    assert other_words("Two, five, five, both.", words) == 1
    assert other_words("830 far.", words) == 1
    assert other_words("double seven 1 2", words) == 0
    assert other_words("8th", words) == 1  # "th"
    assert other_words("hold on one second", words) == 3
