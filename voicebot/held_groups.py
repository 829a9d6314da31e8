"""The number a caller is reading in groups, as :class:`voicebot.hearing.Hearing` holds it.

:mod:`voicebot.digit_hold` is the pure side (what was heard, when the turn is due);
:class:`HeldGroups` is the audio side for one call: each held group's audio, the decodes NOT
told the length that confirm a told-length number (:func:`~voicebot.digit_hold.confirms`,
:func:`~voicebot.digit_pieces.pieces_confirm`), the tentative hold of a lone digit heard as
a word, and the check that words said after a number held as unsure are a turn of their
own. Every decode runs in the default executor; an ASR failure is logged and leaves the
told-length decode standing (as without these checks).
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np

from voicebot.digit_hold import (
    HeldNumber,
    confirms,
    in_progress,
    join_groups,
    last_group_tail,
    tentative_hold,
)
from voicebot.digit_pieces import PieceDecoder, piece_spans, pieces_confirm
from voicebot.errors import VoicebotError
from voicebot.events import SpeechEnded, SpeechStarted
from voicebot.line import Int16Array
from voicebot.numbers import complete_digit_answer, spoken_digits
from voicebot.session_config import SessionConfig
from voicebot.stages import Recognizer, SpeechStream

log = logging.getLogger(__name__)

TENTATIVE_MAX_S = 1.5
"""A free answer to the PIN question this short (speech, s) heard as a word or two may be
a lone digit misheard: it is decoded again as digits (:meth:`HeldGroups.tentative`)."""
TENTATIVE_MIN_CONFIDENCE = 0.35
"""... and held as the start of the number when that digits decode is at least this sure.
Tuning data (bench/lone_digits.py: lone FSDD digits, even takes 0/10/20 of 3 speakers,
decoded as the PIN question's first group): the free decode heard 28 of 90 as words ("Bye."
for "five"); at 0.35, 23 of those are held with their right digit (17 at 0.5, the value
before); short word answers in tests/audio: 1 of 18 held at 0.35 as at 0.5 ("Goodbye." as
"5", 0.51). A word held by mistake stays the word when nothing follows."""
WORDS_MIN = 3
"""Words after a number held as unsure end it only when the free decode heard at least this
many words and no digit: a lone digit said alone is heard as a word or two ("Please." for
"three", "This is" for "six eight"), and is more of the number."""


def _empty() -> Int16Array:
    return np.zeros(0, np.int16)


class HeldGroups:
    """The held number of one call and the audio it was heard from (module docstring).

    Attributes:
        number: the number held while the caller is mid-number, None when none is.
        audio: each held group's audio and its speech end (s from its first sample).
        texts: the held groups' own decodes not told the length, once made.
        prefix: the held groups' audio the open stream started with (empty for a first
            group).
        release: a new question was asked: the held number's turn ends as it is.
        started: the start of the open segment that follows held groups (not passed on).
    """

    def __init__(
        self, recognizer: Recognizer, rate: int, config: SessionConfig, call_id: str = ""
    ) -> None:
        self.recognizer = recognizer
        self.rate = rate
        self.cfg = config
        self.call_id = call_id
        self.number: HeldNumber | None = None
        self.audio: list[tuple[Int16Array, float]] = []
        self.texts: list[str] = []
        self.sureness: list[float] = []
        """The confidence (0..1) of each of :attr:`texts`."""
        self.prefix: Int16Array = _empty()
        self.release = False
        self.started: SpeechStarted | None = None
        self._unconfirmed: tuple[float, float] | None = None
        """(segment start, speech end), s, of the audio last found not confirmed by a decode
        not told the length (so the segment's end does not decode it again)."""
        self.pieces = PieceDecoder(self.untold, rate)
        """The open segment's pieces between pauses, decoded untold (voicebot.digit_pieces)."""
        self.paused = False
        """The caller paused inside the open segment (a pause that did not end the turn)."""

    def may_hold(self, max_digits: int | None) -> bool:
        """A number of known length is asked for and the incomplete timeout is on."""
        return bool(max_digits) and self.cfg.digits_incomplete_timeout_ms > 0

    @property
    def timeout_s(self) -> float:
        """The incomplete timeout, s."""
        return self.cfg.digits_incomplete_timeout_ms / 1000.0

    async def open_segment(self, stream: SpeechStream, started: SpeechStarted) -> bool:
        """A speech segment starts (its ``stream`` just opened). Mid-number, it is the next
        group: the turn stays open and the stream first hears the held groups (True: the
        start is not passed on); False otherwise."""
        self.prefix = _empty()
        self.pieces.reset()
        self.paused = False
        self.started = None
        if self.number is None:
            return False
        self.number.speaking = True
        self.started = started
        self.prefix = join_groups(self.audio, self.rate)
        await asyncio.get_running_loop().run_in_executor(None, stream.accept, self.prefix)
        return True

    def keep(self, segment: Int16Array, speech_end_s: float) -> None:
        """Keep the audio of the segment that just ended (``speech_end_s``: its speech end,
        s from its first sample), for joining with the next group."""
        self.audio.append((segment, speech_end_s))

    def take(self) -> tuple[HeldNumber | None, list[Int16Array]]:
        """End the hold: the number held (None if none) and its groups' audio."""
        number, self.number = self.number, None
        audio = [a for a, _ in self.audio]
        self.release = False
        self.audio = []
        self.texts = []
        self.sureness = []
        return number, audio

    def claims_complete(self, text: str, segment: Int16Array, max_digits: int | None) -> bool:
        """Whether ``text``, decoded told the length, would end the turn as a whole number
        joined from held groups: then decodes not told the length must confirm it first.
        A number in one segment is checked only when the caller paused inside it (its
        pieces, :mod:`voicebot.digit_pieces`): said in one go, untold Whisper drops digits
        ("0007" as "007"), which then waited the incomplete timeout (bench/digit_gaps.py:
        accounts at 0.2 s gaps, endpoint p50 320 -> 1664 ms)."""
        length = max_digits or 0
        return (
            self.may_hold(max_digits)
            and (bool(self.audio) or self._paused_inside(segment))
            and complete_digit_answer(text, length) is not None
            and not in_progress(text, length)
        )

    def _paused_inside(self, segment: Int16Array) -> bool:
        """Whether the caller paused inside the open segment before (a pause that did not
        end the turn) and the pause splits it into pieces. A number said in one go has no
        such pause: it is not checked, and its latency stays as it was."""
        return self.paused and len(piece_spans(segment, self.rate)) > 1

    async def paused_mid_number(self, segment: Int16Array, max_digits: int | None) -> None:
        """A pause inside a one-segment number that did not end the turn: decode the pieces
        so far now, while the caller pauses (:mod:`voicebot.digit_pieces`), so confirming
        the number later decodes only its last piece."""
        if not self.may_hold(max_digits) or self.audio:
            return
        self.paused = True
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.pieces.texts, segment)
        except VoicebotError as exc:
            log.warning("call %s: untold digits decode failed: %s", self.call_id, exc)

    def untold(self, audio: Int16Array) -> str:
        """``audio`` decoded as digits NOT told the length (blocking: run in the executor)."""
        return self.untold_sure(audio)[0]

    def untold_sure(self, audio: Int16Array) -> tuple[str, float]:
        """:meth:`untold` with the decode's confidence, 0..1."""
        stream = self.recognizer.open_stream("digits", sample_rate=self.rate)
        stream.accept(audio)
        final = stream.finish()
        return final.text, float(final.confidence)

    async def count_groups(self) -> None:
        """Decode each held group not yet decoded on its own, untold (for :meth:`confirm`;
        done while the caller pauses, so a complete number waits for one group less)."""
        for group in self.audio[len(self.texts) :]:
            audio = join_groups([group], self.rate)
            try:
                text, sure = await asyncio.get_running_loop().run_in_executor(
                    None, self.untold_sure, audio
                )
            except VoicebotError as exc:
                log.warning("call %s: untold digits decode failed: %s", self.call_id, exc)
                return
            self.texts.append(text)
            self.sureness.append(sure)

    async def confirm(
        self,
        told: str,
        told_confidence: float,
        segment: Int16Array,
        segment_start_s: float,
        speech_end_s: float,
        max_digits: int | None,
    ) -> tuple[str | None, float]:
        """Confirm ``told``, a whole number decoded told the length (with
        ``told_confidence``, 0..1): decode the open ``segment`` (speech up to
        ``speech_end_s``) after the held groups as digits NOT told the length, the whole
        number and the group just spoken on its own (the held groups were decoded on their
        own when they ended: :meth:`count_groups`); for a number in one segment with pauses
        inside, each piece between them on its own (:mod:`voicebot.digit_pieces`). Returns
        (the answer, ms the decodes took): the answer is None when the untold decodes do
        not hear the whole number too (:func:`~voicebot.digit_hold.confirms`, for pieces
        :func:`~voicebot.digit_pieces.pieces_confirm`), else ``told`` (the pieces' own
        digits are not the answer: untold, a piece of several digits drops or adds one,
        "7853" heard as "78537"; tuning set, accounts at 0.8 s). Joined from several
        groups, a ``told`` that agrees with the earlier groups but ends otherwise than the
        group just spoken is mended to the groups' digits (:func:`~voicebot.digit_hold.
        last_group_tail`). An ASR failure confirms (the told decode stands)."""
        key = (segment_start_s, speech_end_s)
        if self._unconfirmed == key:
            return None, 0.0  # decoded at the pause already: the same speech
        started = time.perf_counter()
        await self.count_groups()  # normally done already
        whole_audio = np.concatenate([self.prefix, segment])
        several = bool(self.audio)

        def decode() -> tuple[str, list[str], float]:
            if not several:  # one segment with pauses inside: its pieces, each on its own
                return "", self.pieces.texts(segment), 0.0
            whole = self.untold(whole_audio)
            last, last_sure = self.untold_sure(segment)
            return whole, [*self.texts, last], last_sure

        try:
            whole, groups, last_sure = await asyncio.get_running_loop().run_in_executor(
                None, decode
            )
        except VoicebotError as exc:
            log.warning("call %s: untold digits decode failed: %s", self.call_id, exc)
            return told, (time.perf_counter() - started) * 1000
        length = max_digits or 0
        if several:
            sure = confirms(told, whole, groups, length)
            log.debug(
                "call %s: told %r (%.2f), untold whole %r, groups %r (%s, last %.2f)",
                self.call_id,
                told,
                told_confidence,
                whole,
                groups,
                ", ".join(f"{c:.2f}" for c in self.sureness),
                last_sure,
            )
            mended = last_group_tail(told, groups, length, sure, told_confidence, last_sure)
            if mended is not None and self._held_whole(length):
                mended = None  # a segment after a whole number held as unsure: words?
            if mended is not None:
                log.info(
                    "call %s: told-length digits %r end otherwise than the groups %r: %r",
                    self.call_id,
                    told,
                    groups,
                    mended,
                )
                self._unconfirmed = None
                return mended, (time.perf_counter() - started) * 1000
        else:
            sure = pieces_confirm(told, groups, length)
        self._unconfirmed = None if sure else key
        if not sure:
            log.info(
                "call %s: told-length digits %r not confirmed by %r (groups %r)",
                self.call_id,
                told,
                whole,
                groups,
            )
        return (told if sure else None), (time.perf_counter() - started) * 1000

    def _held_whole(self, length: int) -> bool:
        """Whether the number held before the open segment already held ``length`` digits
        (a whole number held as unsure): the segment then did not complete it and is not
        the group that :func:`~voicebot.digit_hold.last_group_tail` mends with ("no thank
        you goodbye" after the PIN "12 34", decoded untold as digits: "0")."""
        number = self.number
        return number is not None and len(spoken_digits(number.text)) >= length

    async def tentative(
        self, ended: SpeechEnded, text: str, confidence: float, max_digits: int | None
    ) -> HeldNumber | None:
        """A short answer to the PIN question that the free decode heard as a word or two:
        when a digits decode hears it as the start of the number (a lone digit: "three"
        heard as "Please."), hold it like digits (:func:`~voicebot.digit_hold.
        tentative_hold`); None otherwise. The segment is the last group kept."""
        if (
            not text.strip()
            or len(text.split()) > 2
            or ended.end_s - ended.start_s > TENTATIVE_MAX_S
            or complete_digit_answer(text, max_digits or 0) is not None
        ):
            return None
        audio = self.audio[-1][0] if self.audio else _empty()

        def digits() -> tuple[str, float]:
            stream = self.recognizer.open_stream("digits", sample_rate=self.rate)
            stream.accept(audio)
            final = stream.finish()
            return final.text, float(final.confidence)

        try:
            heard, sure = await asyncio.get_running_loop().run_in_executor(None, digits)
        except VoicebotError as exc:
            log.warning("call %s: digits re-decode failed: %s", self.call_id, exc)
            return None
        return tentative_hold(
            text,
            confidence,
            heard,
            sure,
            ended.start_s,
            ended.end_s,
            max_digits or 0,
            self.timeout_s,
            TENTATIVE_MIN_CONFIDENCE,
        )

    async def words_after(
        self, segment: Int16Array, ended: SpeechEnded
    ) -> tuple[str, float, float] | None:
        """The segment after a whole number held as unsure (told-length digits not
        confirmed), decoded on its own in free mode: (text, confidence, ms it took) when it
        holds words (:data:`WORDS_MIN`) and no digit ("no thank you goodbye" 1 s after the
        PIN "12 34"): the caller had finished the number, and the words are a turn of their
        own. None when no such number is held or the segment may be more of the number
        (decoded with the held groups before it, as digits, the words became digits: the
        call was abandoned). An ASR failure: None (the segment is decoded as before)."""
        number = self.number
        if number is None or not number.unsure or self.started is None or ended.forced:
            return None

        def decode() -> tuple[str, float]:
            stream = self.recognizer.open_stream("free", sample_rate=self.rate)
            stream.accept(segment)
            final = stream.finish()
            return final.text, float(final.confidence)

        began = time.perf_counter()
        try:
            text, confidence = await asyncio.get_running_loop().run_in_executor(None, decode)
        except VoicebotError as exc:
            log.warning("call %s: free decode after a number failed: %s", self.call_id, exc)
            return None
        if len(text.split()) < WORDS_MIN or spoken_digits(text):
            return None
        log.info("call %s: words after the held number %r: %r", self.call_id, number.text, text)
        return text, confidence, (time.perf_counter() - began) * 1000
