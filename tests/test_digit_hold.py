"""Numbers read in groups: the held digits between pauses (pure logic, no audio)."""

from __future__ import annotations

import numpy as np
import pytest

from voicebot.asr.normalize import loops_on, periodic
from voicebot.config import load_settings
from voicebot.digit_hold import (
    HeldNumber,
    confirms,
    in_progress,
    join_groups,
    last_group_tail,
    start_hold,
    tentative_hold,
)
from voicebot.errors import ConfigError
from voicebot.numbers import partial_digit_answer
from voicebot.session_config import SessionConfig, session_config


@pytest.mark.parametrize(
    ("text", "length", "digits"),
    [
        ("472", 8, "472"),
        ("4 7 2.", 8, "472"),
        ("my account number is four seven", 8, "47"),
        ("Two, five.", 4, "25"),
        ("double five", 4, "55"),
        ("1234", 4, None),  # complete: not in progress
        ("123456789", 8, None),  # too long
        ("nineteen eighty", 4, None),  # tens: maybe a year
        ("the fourth of", 4, None),
        ("no thanks", 4, None),
        ("", 4, None),
        ("my PIN is", 4, None),  # no digit yet
    ],
)
def test_partial_digit_answer(text: str, length: int, digits: str | None) -> None:
    assert partial_digit_answer(text, length) == digits


def test_a_group_short_of_the_length_is_held_until_the_incomplete_timeout() -> None:
    held = start_hold("472", 0.9, start_s=1.0, end_s=2.0, length=8, timeout_s=3.0)
    assert held is not None and held.incomplete()
    assert held.deadline_s == pytest.approx(5.0)
    assert not held.due(4.99) and held.due(5.0)
    held.speaking = True  # the next group: no deadline while the caller speaks
    assert held.deadline_s is None and not held.due(100.0)
    held.add("47291", 0.8, end_s=5.5)  # the whole number so far, decoded together
    assert held.groups == 2 and held.incomplete()
    assert held.deadline_s == pytest.approx(8.5)  # counted from the last speech
    held.add("47291183", 0.7, end_s=7.0)
    assert not held.incomplete()
    assert held.answer() == ("47291183", 0.7)


def test_a_cough_in_the_pause_changes_nothing() -> None:
    held = start_hold("47", 0.9, 0.0, 1.0, 4, 3.0)
    assert held is not None
    held.speaking = True
    held.add("", 0.0, end_s=2.5)
    assert held.groups == 1 and held.text == "47" and held.deadline_s == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("text", "length", "timeout"),
    [
        ("47291183", 8, 3.0),  # complete: the turn ends now
        ("4729118", 8, 0.0),  # the incomplete timeout is off
        ("sorry I don't know it", 8, 3.0),
        ("nineteen eighty", 4, 3.0),
        ("5", 1, 3.0),  # a one-digit answer is never incomplete
    ],
)
def test_what_is_not_held(text: str, length: int, timeout: float) -> None:
    assert start_hold(text, 0.9, 0.0, 1.0, length, timeout) is None


def test_a_lone_digit_heard_as_a_word_is_held_but_stays_a_word_if_nothing_follows() -> None:
    held = tentative_hold("Please.", 0.4, "3", 0.8, 0.0, 0.6, 4, 3.0, 0.5)
    assert held is not None and held.incomplete()
    assert held.answer() == ("Please.", 0.4)  # nothing followed: what the free decode heard
    held.add("362", 0.7, end_s=3.0)
    assert held.answer() == ("362", 0.7)
    # a doubtful digits decode, or more than two words: not held
    assert tentative_hold("Please.", 0.4, "3", 0.3, 0.0, 0.6, 4, 3.0, 0.5) is None
    assert tentative_hold("I forgot it", 0.9, "3", 0.9, 0.0, 0.6, 4, 3.0, 0.5) is None


def test_groups_are_joined_with_their_long_pauses_cut_short() -> None:
    rate = 8000
    one = np.full(rate * 2, 1, np.int16)  # speech ends at 0.5 s, then 1.5 s of silence
    two = np.full(rate, 2, np.int16)  # speech ends at 0.8 s
    joined = join_groups([(one, 0.5), (two, 0.8)], rate, gap_s=0.2)
    assert len(joined) == int(0.7 * rate) + rate  # the second group is shorter than its cut
    assert (joined[: int(0.7 * rate)] == 1).all() and (joined[int(0.7 * rate) :] == 2).all()
    assert join_groups([], rate).size == 0


def test_held_number_reports_its_deadline_only_when_silent() -> None:
    held = HeldNumber(8, 2.5, 0.0, 1.0, "12", 0.9)
    assert held.deadline_s == pytest.approx(3.5)


def test_incomplete_timeout_setting() -> None:
    cfg = session_config(load_settings())
    assert cfg.digits_incomplete_timeout_ms > cfg.digits_end_silence_ms
    with pytest.raises(ConfigError):
        SessionConfig(digits_incomplete_timeout_ms=-1)


def test_held_vad_threshold_setting() -> None:
    cfg = session_config(load_settings())
    vad = load_settings()["vad"]
    assert 0 < cfg.digits_held_vad_threshold < float(vad["threshold"])
    for bad in (-0.1, 1.0):
        with pytest.raises(ConfigError):
            SessionConfig(digits_held_vad_threshold=bad)


def test_digit_loops_are_recognised() -> None:
    assert periodic("1212") and periodic("12121") and periodic("777")
    assert not periodic("121") and not periodic("1234") and not periodic("")
    assert loops_on("12", "1212") and loops_on("7", "7777")
    assert not loops_on("12", "1234") and not loops_on("1234", "1234") and not loops_on("", "12")


def test_a_whole_number_that_is_one_group_said_twice_waits_for_more() -> None:
    # Whisper tiny fills the asked length by repeating a lone first group ("7853" told 8
    # heard as "7853 7853"): such an answer does not end the turn at once
    assert in_progress("78537853", 8) and in_progress("1, 2, 1, 2", 4)
    assert not in_progress("78537787", 8) and not in_progress("1234", 4)
    held = start_hold("78537853", 0.7, 0.0, 2.6, 8, 3.0)
    assert held is not None and held.incomplete()
    held.add("78537787", 0.7, end_s=6.8)
    assert not held.incomplete() and held.answer() == ("78537787", 0.7)


@pytest.mark.parametrize(
    ("told", "whole", "groups", "length", "sure"),
    [
        # a number in one segment: the whole untold decode is the only one
        ("5865", "5865", ["5865"], 4, True),
        ("5865", "5 8 6 5.", ["5 8 6 5."], 4, True),
        ("5865", "586", ["586"], 4, False),  # told "4 digits", "586" filled up to "5865"
        ("5865", "", [""], 4, False),
        ("1199", "119", ["119"], 4, True),  # untold, the second 9 of "9 9" is dropped
        ("1199", "19", ["19"], 4, True),
        ("3620", "620", ["620"], 4, False),  # a digit missing: wait for more
        ("5865", "58655", ["58655"], 4, True),  # ran on: nothing is missing
        ("4065", "40654", ["40654"], 4, True),
        ("1234", "1212", ["1212"], 4, False),  # "1 2" and a pause, looped both ways
        ("no thanks", "no thanks", ["no thanks"], 4, False),
        # groups: the whole decode may fill too; the groups decoded on their own do not
        ("5865", "5865", ["55", "8", "6"], 4, False),  # the last group ends in 6, not 5
        ("5865", "5865", ["5", "8", "5"], 4, True),
        ("5863", "5863", ["5", "8", "6", "3"], 4, True),
        ("1199", "1", ["1", "1", "9", "99"], 4, True),  # a lone digit doubled counts once
        ("4241", "4241", ["4", "2", "44", "1"], 4, True),
        ("5863", "586", ["58", "63"], 4, True),
        ("5863", "586", ["5", "63"], 4, False),
        ("03186265", "03186265", ["0318", "625"], 8, True),
        ("61651728", "6165172861651728", ["61", "51", "728"], 8, True),  # looped: all there
        ("47291183", "4729118", ["472", "91", "183"], 8, True),
    ],
)
def test_decodes_not_told_the_length_confirm_only_a_whole_number(
    told: str, whole: str, groups: list[str], length: int, sure: bool
) -> None:
    assert confirms(told, whole, groups, length) is sure


def test_a_whole_number_not_confirmed_is_held_as_unsure_until_the_next_group() -> None:
    # "586", a pause: told 4 digits the decode says "5865", untold "586"
    held = start_hold("5865", 0.8, 0.0, 2.0, length=4, timeout_s=3.0, unsure=True)
    assert held is not None and held.unsure and held.incomplete()
    assert held.deadline_s == pytest.approx(5.0)
    assert held.answer() == ("5865", 0.8)  # what the incomplete timeout ends the turn with
    held.speaking = True
    held.add("5863", 0.9, end_s=4.5)  # the real fourth digit, all groups decoded together
    assert held.groups == 2 and not held.unsure and not held.incomplete()
    assert held.answer() == ("5863", 0.9)
    held.add("58631", 0.9, end_s=5.0, unsure=True)
    assert held.incomplete()


def test_unsure_holds_only_a_whole_number() -> None:
    assert start_hold("5865", 0.8, 0.0, 1.0, 4, 3.0) is None  # confirmed: ends at once
    assert start_hold("5865", 0.8, 0.0, 1.0, 4, 0.0, unsure=True) is None  # timeout off
    assert start_hold("no thanks", 0.8, 0.0, 1.0, 4, 3.0, unsure=True) is None
    partial = start_hold("58", 0.8, 0.0, 1.0, 4, 3.0, unsure=True)
    assert partial is not None and not partial.unsure and partial.incomplete()


@pytest.mark.parametrize(
    ("told", "groups", "length", "confirmed", "sure", "mended"),
    [
        # (sure: the told decode's confidence, then the last group's)
        # the told decode is not confirmed (its last digit is not in the last group)
        ("8412", ["8", "4", "1", "3"], 4, False, (0.72, 0.28), "8413"),
        ("47291188", ["472", "91", "183"], 8, False, (0.9, 0.5), "47291183"),
        # confirmed, but the last group on its own is surer
        ("6789", ["67", "69"], 4, True, (0.47, 0.66), "6769"),
        ("six seven eight nine", ["67", "69"], 4, True, (0.47, 0.66), "6769"),
        # confirmed and surer than the last group: the told decode stands
        ("6892", ["68", "52"], 4, True, (0.61, 0.44), None),
        # nothing to mend, or not known which decode is right
        ("4065", ["40", "65"], 4, True, (0.5, 0.9), None),  # agree
        ("9292", ["52", "92"], 4, True, (0.5, 0.9), None),  # an earlier group differs
        ("8587", ["8", "5", "8", "7"], 4, True, (0.5, 0.9), None),
        ("3723", ["37", "3"], 4, False, (0.5, 0.9), None),  # the groups hold too few digits
        ("4241", ["4", "2", "44", "1"], 4, False, (0.5, 0.9), None),  # a lone digit doubled
        ("4794", ["4", "7", "99"], 4, False, (0.7, 0.61), None),  # "nine" doubled, 8 to come
        ("6789", ["67", ""], 4, False, (0.5, 0.9), None),  # the last group heard nothing
        ("678", ["6", "78"], 4, False, (0.5, 0.9), None),  # told is not a whole number
        ("6789", ["6769"], 4, False, (0.5, 0.9), None),  # one group: the pieces' rule
    ],
)
def test_a_told_number_that_ends_otherwise_than_the_last_group_is_mended(
    told: str,
    groups: list[str],
    length: int,
    confirmed: bool,
    sure: tuple[float, float],
    mended: str | None,
) -> None:
    assert last_group_tail(told, groups, length, confirmed, *sure) == mended
