"""Spoken and typed numbers, dates of birth (voicebot.numbers), postcodes (voicebot.postcodes)."""

from __future__ import annotations

from datetime import date

import pytest

from voicebot.numbers import (
    answer_state,
    complete_digit_answer,
    digit_answer_state,
    extract_number,
    parse_date_of_birth,
    spoken_digits,
)
from voicebot.postcodes import parse_postcode

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("one two three four five six seven eight", "12345678"),
        ("12345678", "12345678"),
        ("1234 5678", "12345678"),
        ("12-34-56-78", "12345678"),
        ("uh one two um three four", "1234"),
        ("yeah so it's five five five oh one two three four", "55501234"),
        ("double five five oh one two three four", "55501234"),
        ("triple oh seven", "0007"),
        ("treble two", "222"),
        ("oh oh oh seven", "0007"),
        ("o o o seven", "0007"),
        ("zero nought nil", "000"),
        ("twenty three", "23"),
        ("twenty", "20"),
        ("twelve thirty four", "1234"),
        ("nineteen eighty", "1980"),
        ("one hundred and twelve", "112"),
        ("two thousand and five", "2005"),
        ("ONE TWO THREE", "123"),
        ("my pin is four three two one", "4321"),
        ("niner", "9"),
        ("no numbers here at all", ""),
        ("", ""),
    ],
)
def test_spoken_digits(text: str, digits: str) -> None:
    assert spoken_digits(text) == digits


def test_extract_number_requires_the_exact_length() -> None:
    assert extract_number("one two three four", 4) == "1234"
    assert extract_number("one two three", 4) is None
    assert extract_number("one two three four five", 4) is None
    assert extract_number("double one double two three three four four", 8) == "11223344"


@pytest.mark.parametrize(
    ("text", "length", "digits"),
    [
        ("4 0 7 1 2 3 3 9", 8, "40712339"),
        ("40712339.", 8, "40712339"),
        ("My PIN is one two three four", 4, "1234"),
        ("One, two, three, four.", 4, "1234"),
        ("four oh seven double one", 5, "40711"),
        ("4 0 7 1", 8, None),  # not finished yet
        ("one two three four five", 4, None),  # too many
        ("the fourth of July", 4, None),  # a date of birth
        ("nineteen eighty", 4, None),  # may be the start of a year
        ("1980 I think", 4, None),
    ],
)
def test_complete_digit_answer(text: str, length: int, digits: str | None) -> None:
    assert complete_digit_answer(text, length) == digits


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("one two three four", "complete"),
        ("one two three", "open"),  # a pause between digits
        ("No thanks, goodbye.", "not_digits"),
        ("I forgot", "not_digits"),
        ("I don't have one", "open"),  # "one" may be a digit: wait (safe side)
        ("My PIN is", "open"),  # a lead-in: the digits come next
        ("the fourth of July", "open"),  # a date of birth under way
        ("twelfth of March", "open"),
        ("", "open"),
    ],
)
def test_digit_answer_state(text: str, state: str) -> None:
    assert digit_answer_state(text, 4) == state


def test_answer_state_of_a_spelled_postcode() -> None:
    assert answer_state("S W 1 A 1 A A.", "spelled", None) == "complete"
    assert answer_state("S W 1 A", "spelled", None) == "open"  # the inward code is to come
    assert answer_state("one two three four", "free", 4) == "complete"  # digits: the length
    assert answer_state("anything", "free", None) == "open"


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("No thanks goodbye.", "not_postcode"),  # ends the turn at the early pause
        ("no goodbye", "not_postcode"),
        ("I don't know", "open"),  # "I" may be the first letter of a postcode
        ("my postcode is", "open"),  # a lead-in: the postcode is to come
        ("it is postcode", "open"),
        ("M11A", "open"),  # a postcode misheard: the long endpoint still applies
        ("Thank you.", "open"),  # "you" is the letter U
        ("", "open"),
    ],
)
def test_answer_state_of_words_that_are_no_postcode(text: str, state: str) -> None:
    assert answer_state(text, "spelled", None) == state


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 march 1980", date(1980, 3, 12)),
        ("12th of march 1980", date(1980, 3, 12)),
        ("the twelfth of march nineteen eighty", date(1980, 3, 12)),
        ("march twelfth nineteen eighty", date(1980, 3, 12)),
        ("march 12 1980", date(1980, 3, 12)),
        ("March 12th, 1980", date(1980, 3, 12)),
        ("12/03/1980", date(1980, 3, 12)),
        ("12.03.1980", date(1980, 3, 12)),
        ("12-3-80", date(1980, 3, 12)),
        ("1980-03-12", date(1980, 3, 12)),
        ("one two oh three one nine eight oh", date(1980, 3, 12)),
        ("uh it's the fifth of may nineteen seventy five", date(1975, 5, 5)),
        ("thirty first of december nineteen sixty five", date(1965, 12, 31)),
        ("twenty first july nineteen ninety two", date(1992, 7, 21)),
        ("july the fourth two thousand and one", date(2001, 7, 4)),
        ("fourth of july twenty oh one", date(2001, 7, 4)),
        ("4 jul 2001", date(2001, 7, 4)),
        ("thirtieth of january nineteen fifty eight", date(1958, 1, 30)),
        ("the first of february nineteen oh five", date(1905, 2, 1)),
        ("my date of birth is 3rd june eighty five", date(1985, 6, 3)),
    ],
)
def test_parse_date_of_birth(text: str, expected: date) -> None:
    assert parse_date_of_birth(text, today=TODAY) == expected


@pytest.mark.parametrize(
    "text",
    [
        "31/02/1980",  # no such day
        "12 march 2090",  # in the future
        "12 march 1850",  # before 1900
        "march",  # no day, no year
        "i don't know",
        "one two three",
    ],
)
def test_parse_date_of_birth_refuses(text: str) -> None:
    assert parse_date_of_birth(text, today=TODAY) is None


@pytest.mark.parametrize(
    ("text", "postcode"),
    [
        ("SW1A 1AA", "SW1A 1AA"),
        ("sw1a1aa", "SW1A 1AA"),
        ("my postcode is sw1a 1aa thanks", "SW1A 1AA"),
        ("s w one a one a a", "SW1A 1AA"),
        ("is there a power cut at s w one a one double a", "SW1A 1AA"),
        ("m one one a e", "M1 1AE"),
        ("e c one a one b b", "EC1A 1BB"),
        ("it's l s six two a b", "LS6 2AB"),
        ("c f one oh one e p", "CF10 1EP"),
        ("b one one a a", "B1 1AA"),
        ("sierra whiskey one alpha one alpha alpha", "SW1A 1AA"),
        ("S W 1 A 1 A A.", "SW1A 1AA"),  # spelled out, as Whisper writes it
        ("Is there an outage at Postcode M 1 1 A A.", "M1 1AA"),
    ],
)
def test_parse_postcode(text: str, postcode: str) -> None:
    assert parse_postcode(text) == postcode


@pytest.mark.parametrize("text", ["hello there", "is there a power cut", "one two three", ""])
def test_parse_postcode_refuses(text: str) -> None:
    assert parse_postcode(text) is None
