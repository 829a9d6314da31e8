"""The pieces of one speech segment between the caller's pauses, decoded on their own.

A number read in groups with pauses shorter than the digits endpoint (``digits_end_silence_ms``,
1 s) stays one VAD segment: "five ... eight ... six" with 0.8 s pauses. Told the length,
Whisper fills such audio at the early end's pause ("586" heard as "5865"), and decoded as
one piece, untold too, it drops or fills digits across the long silences. Each piece
between pauses, decoded on its own in digits mode, is heard far better (Whisper's digits
mode is about 96 % per digit on FSDD). :class:`voicebot.hearing.Hearing` uses the pieces'
digits, joined, to confirm a told-length number heard in one segment
(:func:`voicebot.digit_hold.confirms`): the number is complete only when the pieces hold
the asked length together. A segment with no such pause (a number said in one go) has one
piece and is not checked, so its latency does not change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from voicebot.asr.audio import pause_spans
from voicebot.line import Int16Array
from voicebot.numbers import spoken_digits

PIECE_PAUSE_S = 0.28
"""A silence inside a segment at least this long splits it into pieces, s: a little under
the early end's pause (``digits_early_end_ms``, 300 ms), the shortest pause at which a
told-length decode is asked whether the number is complete (and may fill it)."""


def piece_spans(
    audio: Int16Array, rate: int, min_pause_s: float = PIECE_PAUSE_S
) -> list[tuple[int, int]]:
    """Sample spans (start, end) of the speech in ``audio`` (int16 at ``rate`` Hz) between
    silences of at least ``min_pause_s`` (energy 30 dB below the loudest 20 ms frame, see
    :func:`voicebot.asr.audio.pause_spans`), each widened by 50 ms."""
    if audio.size == 0:
        return []
    return pause_spans(audio.astype(np.float32) / 32768.0, rate=rate, min_gap_s=min_pause_s)


class PieceDecoder:
    """Untold digit decodes of a segment's pieces, each piece decoded once (a piece that a
    pause closed keeps its span as the segment grows; only the last one changes).

    ``decode`` takes a piece's int16 audio and returns its digits-mode text, not told the
    length (blocking: call :meth:`texts` in an executor)."""

    def __init__(self, decode: Callable[[Int16Array], str], rate: int) -> None:
        self.decode = decode
        self.rate = rate
        self._done: dict[tuple[int, int], str] = {}

    def reset(self) -> None:
        """A new segment: forget the pieces decoded so far."""
        self._done = {}

    def texts(self, audio: Int16Array) -> list[str]:
        """The digits-mode text of each piece of ``audio`` (one entry per piece, in order;
        a single piece gives one entry, decoded too)."""
        out = []
        for span in piece_spans(audio, self.rate):
            if span not in self._done:
                self._done[span] = self.decode(audio[span[0] : span[1]])
            out.append(self._done[span])
        return out


PIECES_MAY_DROP = 2
"""How many digits fewer than asked the pieces may hold together and still confirm a
told-length number: decoded untold on its own, a piece drops a repeated digit ("1 1"
heard as "1", "6 6 9" as "69"; tuning set, accounts and PINs at 0.2 and 0.8 s)."""


def pieces_confirm(told: str, pieces: list[str], length: int) -> bool:
    """Whether ``pieces`` (the untold digits-mode texts of a segment's pieces between
    pauses, in order) back ``told``, a told-length decode of the whole segment that heard
    a complete ``length``-digit number. Told the length, Whisper fills a number the caller
    has not finished with a digit the caller did not say last ("5 8 6" and a pause heard
    as "5865", "4 3 2" as "4324"): so the last piece must hold the digit ``told`` ends
    with, and the pieces must hold at least ``length - PIECES_MAY_DROP`` digits."""
    told_digits = spoken_digits(told)
    if not told_digits or not pieces:
        return False
    if told_digits[-1] not in spoken_digits(pieces[-1]):
        return False
    return sum(len(spoken_digits(p)) for p in pieces) >= length - PIECES_MAY_DROP
