"""The pieces of one speech segment between the caller's pauses (voicebot.digit_pieces):
where real human digits (FSDD, the shared evaluation data) are split, and when the pieces'
own untold decodes back a told-length number. No fakes: pure functions on real audio."""

from __future__ import annotations

import numpy as np
import pytest

from voicebot.digit_pieces import PieceDecoder, piece_spans, pieces_confirm
from voicebot.replay.cases import fsdd_digits


@pytest.mark.parametrize("speaker", ["jackson", "nicolas", "yweweler"])
def test_a_pin_read_one_digit_at_a_time_splits_into_one_piece_per_digit(speaker: str) -> None:
    audio = fsdd_digits("5 8 6 3", speaker, 8000, group_gap_s=0.8)
    spans = piece_spans(audio, 8000)
    assert len(spans) == 4
    assert all(0 <= a < b <= audio.size for a, b in spans)
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))


def test_a_pause_between_groups_splits_but_a_short_one_inside_a_group_does_not() -> None:
    audio = fsdd_digits("47 91", "jackson", 8000, gap_ms=60.0, group_gap_s=0.8)
    assert len(piece_spans(audio, 8000)) == 2


def test_silence_has_no_pieces() -> None:
    assert piece_spans(np.zeros(0, np.int16), 8000) == []


@pytest.mark.parametrize(
    ("told", "pieces", "length", "sure"),
    [
        ("five eight six three", ["5", "8", "6", "3"], 4, True),
        # told 4 digits after "5 8 6" and a pause, Whisper fills one: the last piece lacks it
        ("five eight six five", ["5", "8", "6"], 4, False),
        ("4324", ["4", "3", "2"], 4, False),
        # untold, a piece drops a repeated digit ("1 1" heard as "1"): still confirmed
        ("one one nine nine", ["1", "19"], 4, True),
        ("54062767", ["5", "06", "276", "7"], 8, True),
        # but not when the pieces hold far fewer digits than asked
        ("54062767", ["5", "7"], 8, False),
        ("1234", [], 4, False),
        ("", ["1"], 4, False),
    ],
)
def test_pieces_confirm(told: str, pieces: list[str], length: int, sure: bool) -> None:
    assert pieces_confirm(told, pieces, length) is sure


def test_each_piece_is_decoded_once_as_the_segment_grows() -> None:
    # the decoder here only counts its calls (what is decoded is Whisper's part, tested
    # through the real ear in test_hearing_groups.py)
    calls: list[int] = []

    def decode(audio: np.ndarray) -> str:
        calls.append(audio.size)
        return str(len(calls))

    pieces = PieceDecoder(decode, 8000)
    first = fsdd_digits("5 8", "nicolas", 8000, group_gap_s=0.8)
    # a third digit after another pause (the first one again: the loudest frame, which
    # sets the silence level, stays the same)
    again = first[: piece_spans(first, 8000)[0][1]]
    whole = np.concatenate([first, np.zeros(6400, np.int16), again])
    assert pieces.texts(first) == ["1", "2"]
    assert pieces.texts(whole) == ["1", "2", "3"]  # only the new piece is decoded
    assert len(calls) == 3
    pieces.reset()
    assert pieces.texts(first) == ["4", "5"]
