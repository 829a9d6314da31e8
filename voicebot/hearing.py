"""Hearing one caller: line audio -> VAD segments -> ASR -> events for the turn machine.

:class:`Hearing` is the ear of a :class:`~voicebot.session.CallSession`. It owns the speech
detector, opens one ASR stream per speech segment with the grammar the dialog expects, and
yields, in order, what the turn state machine takes: ``SpeechStarted``, partial and final
``Transcript``, ``SpeechEnded``. It also keeps what a turn log needs (how the turn ended,
how long the final decode took) and the last segment's audio (for recorded messages).

Endpointing follows what the bot waits for (:meth:`Hearing.listen_for`):

* anything: the VAD's ``end_silence_ms`` (200 ms by default);
* an account number or a PIN: ``digits_end_silence_ms`` (1 s: people pause between
  digits), and, when the length is known, an *early end*: at a pause of
  ``digits_early_end_ms`` the audio so far is decoded (:meth:`AsrStream.preview`), and the
  turn ends there when, confidently, it already holds every expected digit and nothing else,
  or it is plainly not a number ("no thanks, goodbye": no digit, date or lead-in in it).
  A postcode asked for (``spelled``) gets the same long endpoint, and ends at a pause once
  the words so far hold a whole postcode.
* a number read in groups (:mod:`voicebot.digit_hold`): when a segment ends holding fewer
  digits than asked for and nothing else, the turn does not end: the digits are held and
  the segment stays open for the turn machine (so no reprompt starts over a caller who is
  mid-number) for up to ``digits_incomplete_timeout_ms`` after the caller's last speech.
  The next group's stream starts with the held groups' audio (their long pauses cut
  short), so every decode hears the whole number so far, told the full length; the turn
  ends with it once it is complete (at a ``digits_early_end_ms`` pause, as for a number
  said in one go), when something other than digits comes, or when the incomplete timeout
  runs out. This works with every engine (Vosk too: it decides on each final transcript).
* told the length, the decoder fills it ("586" and a pause heard as "5865"): wherever a
  told-length decode would end the turn with a whole number (the early end, the end of a
  group), the same audio is decoded again NOT told the length, and only when that hears
  every digit too does the turn end at once (:func:`voicebot.digit_hold.confirms`);
  otherwise the number is held as unsure: a following group joins it, and silence until the
  incomplete timeout ends the turn with the told-length text.
* a number read with pauses shorter than ``digits_end_silence_ms`` stays one segment: once
  the caller has paused inside it, its pieces between pauses are decoded on their own
  (:mod:`voicebot.digit_pieces`), and they confirm a told-length number instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import numpy as np

from voicebot.audio.vad import SpeechChunk, SpeechDetector
from voicebot.digit_hold import (
    HeldNumber,
    confirms,
    in_progress,
    join_groups,
    start_hold,
    tentative_hold,
)
from voicebot.digit_pieces import PieceDecoder, piece_spans, pieces_confirm
from voicebot.errors import VoicebotError
from voicebot.events import ExpectedInput, SpeechEnded, SpeechPaused, SpeechStarted, Transcript
from voicebot.line import Int16Array
from voicebot.numbers import answer_state, complete_digit_answer
from voicebot.session_config import SessionConfig
from voicebot.speculation import Speculation
from voicebot.stages import Recognizer, SpeechStream

log = logging.getLogger(__name__)

HeardEvent = SpeechStarted | SpeechEnded | Transcript
TENTATIVE_MAX_S = 1.5
"""A free answer to the PIN question this short (speech, s) heard as a word or two may be
a lone digit misheard: it is decoded again as digits (:meth:`Hearing._tentative`)."""
TENTATIVE_MIN_CONFIDENCE = 0.5
"""... and held as the start of the number when that digits decode is at least this sure."""


@dataclass(frozen=True)
class TurnEnd:
    """How the last caller segment ended, for the turn log.

    Attributes:
        ended: the endpoint event (``end_s`` = end of caller speech, ``time_s`` = decision).
        asr_ms: time of the decode that gave the final transcript, ms.
        early: True when the turn ended at a pause because every expected digit was heard.
        groups: how many speech segments (groups of a number read with pauses) it joins.
    """

    ended: SpeechEnded
    asr_ms: float
    early: bool = False
    groups: int = 1


class Hearing:
    """Audio in, turn-machine events out (see the module docstring). One per call."""

    def __init__(
        self,
        detector: SpeechDetector,
        recognizer: Recognizer,
        rate: int,
        config: SessionConfig,
        call_id: str = "",
        errors: list[str] | None = None,
    ) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.rate = rate
        self.cfg = config
        self.call_id = call_id
        self.errors: list[str] = errors if errors is not None else []
        """ASR failures (``code: message``), for the call result."""
        self.last_segment: Int16Array | None = None
        """Audio of the last finished speech segment at the line rate."""
        self.expect: ExpectedInput = "free"
        self.max_digits: int | None = None
        self._stream: SpeechStream | None = None
        self._segment: list[Int16Array] = []
        self._turn_end: TurnEnd | None = None
        self._end_silence_ms = detector.segmenter.end_silence_ms
        self._pause_ms = detector.segmenter.pause_ms
        self._held: HeldNumber | None = None
        self._held_groups: list[tuple[Int16Array, float]] = []
        self._segment_start_s = 0.0
        self._release_held = False
        self._speculation: Speculation | None = None
        self._stream_expect: ExpectedInput = "free"
        self._prefix: Int16Array = np.zeros(0, np.int16)
        """The held groups' audio the open stream started with (empty for a first group)."""
        self._group_texts: list[str] = []
        """The held groups' own decodes not told the length, once made (for :meth:`_confirm`)."""
        self._unconfirmed: tuple[float, float] | None = None
        """(segment start, speech end), s, of the audio last found not confirmed by a decode
        not told the length (so the segment's end does not decode it again)."""
        self._pieces = PieceDecoder(self._untold, rate)
        """The open segment's pieces between pauses, decoded untold (voicebot.digit_pieces)."""
        self._paused = False
        """The caller paused inside the open segment (a pause that did not end the turn)."""

    def listen_for(self, expect: ExpectedInput, max_digits: int | None) -> None:
        """Set the grammar and the endpointing for the next caller turn (``max_digits``:
        the length of the account number or PIN asked for, None when not asked)."""
        self.expect = expect
        self.max_digits = max_digits
        # digits and spelled postcodes come with pauses between their parts
        spelled = expect in ("digits", "spelled") or max_digits is not None
        segmenter = self.detector.segmenter
        segmenter.end_silence_ms = (
            self.cfg.digits_end_silence_ms if spelled else self._end_silence_ms
        )
        early = self.cfg.digits_early_end_ms
        knows_complete = bool(max_digits) or expect == "spelled"
        can_end_early = spelled and knows_complete and 0 < early < segmenter.end_silence_ms
        # voicebot.speculation: a pause hint for the early decode, not for digit questions
        pause = self._pause_ms or (0.0 if spelled else self.cfg.speculative_decode_ms)
        pause = pause if pause < segmenter.end_silence_ms else 0.0
        segmenter.pause_ms = early if can_end_early else pause
        if self._held is not None:  # a new question: end the held number's turn as it is
            self._release_held = True

    def take_turn_end(self) -> TurnEnd | None:
        """How the last segment ended (once: cleared by the call)."""
        end, self._turn_end = self._turn_end, None
        return end

    async def hear(self, samples: Int16Array) -> AsyncIterator[HeardEvent]:
        """Take line audio; yield the events it completes, in order (decodes run in the
        default executor, so the event loop never blocks on the ASR)."""
        ended_early = False
        for out in self.detector.feed(samples):
            if isinstance(out, SpeechStarted):
                # mid-number, a question that takes words too is decoded as digits now
                expect = "digits" if self._held is not None else self.expect
                self._stream_expect = expect
                self._stream = self.recognizer.open_stream(
                    expect, sample_rate=self.rate, length=self.max_digits
                )
                self._segment = []
                self._segment_start_s = out.audio_start_s
                self._speculation = None
                self._prefix = np.zeros(0, np.int16)
                self._pieces.reset()
                self._paused = False
                ended_early = False
                if self._held is not None:
                    # the next group: the turn stays open, and the stream hears the number
                    # from its first group on
                    self._held.speaking = True
                    self._prefix = join_groups(self._held_groups, self.rate)
                    await asyncio.get_running_loop().run_in_executor(
                        None, self._stream.accept, self._prefix
                    )
                else:
                    yield out
            elif ended_early:
                continue  # the silence after a turn that ended early
            elif isinstance(out, SpeechPaused):
                early = await self._end_early(out)
                if early is not None:
                    ended_early = True
                    yield early[0]
                    yield early[1]
                else:
                    await self._paused_mid_number()
                    self._speculate(out)
            elif isinstance(out, SpeechChunk):
                self._segment.append(out.samples)
                if self._stream is not None:
                    partial = self._stream.accept(out.samples)
                    if partial:
                        yield Transcript(out.time_s, partial, final=False)
            elif isinstance(out, SpeechEnded):
                if not self._may_hold() and self._held is None:
                    yield out
                    final = await self._finish(out)
                    if final is not None:
                        yield final
                else:
                    for event in await self._finish_group(out):
                        yield event
        held = self._held
        if held is not None and not held.speaking:
            now = self.detector.segmenter.time_at(self.detector.segmenter.frames)
            if self._release_held or held.due(now):
                for event in self._release(now):
                    yield event

    def _may_hold(self) -> bool:
        """A number of known length is asked for and the incomplete timeout is on."""
        return bool(self.max_digits) and self.cfg.digits_incomplete_timeout_ms > 0

    async def _finish_group(self, ended: SpeechEnded) -> list[HeardEvent]:
        """A segment ended while a number of known length is asked for: decode it, then
        hold its digits when the number is still incomplete (no event: the turn stays
        open), else end the turn with everything heard."""
        stream, self._stream = self._stream, None
        asr_ms, text, confidence = await self._decode(stream)
        unsure = False
        if not ended.forced and not self._release_held and self._claims_complete(text):
            answer, confirm_ms = await self._confirm(text, ended.end_s)
            asr_ms += confirm_ms
            unsure = answer is None
            text = answer or text
        self._keep_group(ended)
        held = self._held
        if held is None:
            held = start_hold(
                text,
                confidence,
                ended.start_s,
                ended.end_s,
                self.max_digits or 0,
                self.cfg.digits_incomplete_timeout_ms / 1000.0,
                unsure=unsure,
            )
            if held is None and self.expect == "free":
                held = await self._tentative(ended, text, confidence)
            if held is not None and not ended.forced and not self._release_held:
                self._held = held
                await self._count_groups()
                return []
            self._held_groups = []
            self._group_texts = []
            return list(self._ended(ended, text, confidence, asr_ms))
        held.add(text, confidence, ended.end_s, unsure=unsure)
        if held.incomplete() and not ended.forced and not self._release_held:
            await self._count_groups()
            return []  # still mid-number: wait for the next group
        return list(self._release(ended.time_s, ended, asr_ms))

    def _release(
        self, when: float, ended: SpeechEnded | None = None, asr_ms: float = 0.0
    ) -> tuple[SpeechEnded, Transcript]:
        """End the held number's turn at ``when`` (s): the end of its last segment, or the
        incomplete timeout (then no decode is waiting: ``asr_ms`` 0)."""
        held, self._held = self._held, None
        self._release_held = False
        assert held is not None
        if ended is None:
            ended = SpeechEnded(time_s=when, start_s=held.start_s, end_s=held.end_s)
        else:
            ended = replace(ended, start_s=held.start_s)
        self._segment = [audio for audio, _ in self._held_groups]
        self._held_groups = []
        self._group_texts = []
        text, confidence = held.answer()
        return self._ended(ended, text, confidence, asr_ms, groups=held.groups)

    async def _tentative(
        self, ended: SpeechEnded, text: str, confidence: float
    ) -> HeldNumber | None:
        """A short answer to the PIN question that the free decode heard as a word or two:
        when a digits decode hears it as the start of the number (a lone digit: "three"
        heard as "Please."), hold it like digits (:func:`~voicebot.digit_hold.
        tentative_hold`); None otherwise."""
        if (
            not text.strip()
            or len(text.split()) > 2
            or ended.end_s - ended.start_s > TENTATIVE_MAX_S
            or complete_digit_answer(text, self.max_digits or 0) is not None
        ):
            return None
        audio = self._held_groups[-1][0] if self._held_groups else np.zeros(0, np.int16)

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
            self.max_digits or 0,
            self.cfg.digits_incomplete_timeout_ms / 1000.0,
            TENTATIVE_MIN_CONFIDENCE,
        )

    def _claims_complete(self, text: str) -> bool:
        """Whether ``text``, decoded told the length, would end the turn as a whole number
        joined from held groups: then decodes not told the length must confirm it first.
        A number in one segment is checked only when the caller paused inside it (its
        pieces, :mod:`voicebot.digit_pieces`): said in one go, untold Whisper drops digits
        ("0007" as "007"), which then waited the incomplete timeout (bench/digit_gaps.py:
        accounts at 0.2 s gaps, endpoint p50 320 -> 1664 ms)."""
        length = self.max_digits or 0
        return (
            self._may_hold()
            and (bool(self._held_groups) or self._paused_inside())
            and complete_digit_answer(text, length) is not None
            and not in_progress(text, length)
        )

    def _paused_inside(self) -> bool:
        """Whether the caller paused inside the open segment before (a pause that did not
        end the turn) and the pause splits it into pieces. A number said in one go has no
        such pause: it is not checked, and its latency stays as it was."""
        segment = np.concatenate(self._segment) if self._segment else np.zeros(0, np.int16)
        return self._paused and len(piece_spans(segment, self.rate)) > 1

    async def _paused_mid_number(self) -> None:
        """A pause inside a one-segment number that did not end the turn: decode the pieces
        so far now, while the caller pauses (:mod:`voicebot.digit_pieces`), so confirming
        the number later decodes only its last piece."""
        if not self._may_hold() or self._held_groups or self._stream is None:
            return
        self._paused = True
        segment = np.concatenate(self._segment) if self._segment else np.zeros(0, np.int16)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._pieces.texts, segment)
        except VoicebotError as exc:
            log.warning("call %s: untold digits decode failed: %s", self.call_id, exc)

    def _untold(self, audio: Int16Array) -> str:
        """``audio`` decoded as digits NOT told the length (blocking: run in the executor)."""
        stream = self.recognizer.open_stream("digits", sample_rate=self.rate)
        stream.accept(audio)
        return stream.finish().text

    async def _count_groups(self) -> None:
        """Decode each held group not yet decoded on its own, untold (for :meth:`_confirm`;
        done while the caller pauses, so a complete number waits for one group less)."""
        for group in self._held_groups[len(self._group_texts) :]:
            audio = join_groups([group], self.rate)
            try:
                text = await asyncio.get_running_loop().run_in_executor(None, self._untold, audio)
            except VoicebotError as exc:
                log.warning("call %s: untold digits decode failed: %s", self.call_id, exc)
                return
            self._group_texts.append(text)

    async def _confirm(self, told: str, speech_end_s: float) -> tuple[str | None, float]:
        """Confirm ``told``, a whole number decoded told the length: decode the open
        segment's audio (held groups and all, speech up to ``speech_end_s``) as digits NOT
        told the length, the whole number and the group just spoken on its own (the held
        groups were decoded on their own when they ended: :meth:`_count_groups`); for a
        number in one segment with pauses inside, each piece between them on its own
        (:mod:`voicebot.digit_pieces`). Returns (the answer, ms the decodes took): the
        answer is None when the untold decodes do not hear the whole number too
        (:func:`~voicebot.digit_hold.confirms`, for pieces :func:`~voicebot.digit_pieces.
        pieces_confirm`), else ``told`` (the pieces' own digits are
        not the answer: untold, a piece of several digits drops or adds one, "7853" heard
        as "78537"; tuning set, accounts at 0.8 s). An ASR failure confirms (the told
        decode stands, as without this check)."""
        key = (self._segment_start_s, speech_end_s)
        if self._unconfirmed == key:
            return None, 0.0  # decoded at the pause already: the same speech
        started = time.perf_counter()
        await self._count_groups()  # normally done already
        segment = np.concatenate(self._segment) if self._segment else np.zeros(0, np.int16)
        whole_audio = np.concatenate([self._prefix, segment])
        several = bool(self._held_groups)

        def decode() -> tuple[str, list[str]]:
            if not several:  # one segment with pauses inside: its pieces, each on its own
                return "", self._pieces.texts(segment)
            whole = self._untold(whole_audio)
            return whole, [*self._group_texts, self._untold(segment)]

        try:
            whole, groups = await asyncio.get_running_loop().run_in_executor(None, decode)
        except VoicebotError as exc:
            log.warning("call %s: untold digits decode failed: %s", self.call_id, exc)
            return told, (time.perf_counter() - started) * 1000
        length = self.max_digits or 0
        if several:
            sure = confirms(told, whole, groups, length)
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

    def _keep_group(self, ended: SpeechEnded) -> None:
        """Keep the audio of the segment that just ended, for joining with the next group."""
        audio = np.concatenate(self._segment) if self._segment else np.zeros(0, np.int16)
        self._held_groups.append((audio, ended.end_s - self._segment_start_s))

    def _ended(
        self,
        ended: SpeechEnded,
        text: str,
        confidence: float,
        asr_ms: float,
        *,
        early: bool = False,
        groups: int = 1,
    ) -> tuple[SpeechEnded, Transcript]:
        """The events that end a turn: the endpoint, then its final transcript."""
        self.last_segment = np.concatenate(self._segment) if self._segment else None
        self._turn_end = TurnEnd(ended, asr_ms, early=early, groups=groups)
        return ended, Transcript(ended.time_s, text, confidence, final=True)

    async def _end_early(self, paused: SpeechPaused) -> tuple[SpeechEnded, Transcript] | None:
        """At a pause in an account number, PIN or postcode: end the segment now if the audio
        so far already holds the whole answer, or plainly no number, confidently; None to
        keep listening (:func:`~voicebot.numbers.answer_state`)."""
        stream = self._stream
        if stream is None or not hasattr(stream, "preview"):
            return None
        if not self.max_digits and self.expect != "spelled":
            return None
        started = time.perf_counter()
        try:
            heard = await asyncio.get_running_loop().run_in_executor(None, stream.preview)
        except VoicebotError as exc:
            log.warning("call %s: preview failed: %s", self.call_id, exc)
            return None
        held = self._held
        if (
            heard is None
            or float(heard.confidence) < self.cfg.confirm_below
            or answer_state(heard.text, self.expect, self.max_digits) == "open"
            or (self._may_hold() and in_progress(heard.text, self.max_digits or 0))
        ):
            return None
        text = heard.text
        if self._claims_complete(text):
            answer = (await self._confirm(text, paused.end_s))[0]
            if answer is None:
                return None  # told the length, the decode may have filled it: keep listening
            text = answer
        ended = self.detector.end_early(paused)
        if ended is None:  # speech resumed while decoding
            return None
        self._stream = None
        asr_ms = (time.perf_counter() - started) * 1000
        if held is not None:
            held.add(text, float(heard.confidence), ended.end_s)
            self._keep_group(ended)
            events = self._release(ended.time_s, ended, asr_ms)
            assert self._turn_end is not None
            self._turn_end = replace(self._turn_end, early=True)
            return events
        return self._ended(ended, text, float(heard.confidence), asr_ms, early=True)

    async def _decode(self, stream: SpeechStream | None) -> tuple[float, str, float]:
        """The final decode of a segment: (ms it took, text, confidence); an ASR failure
        raises (:class:`~voicebot.errors.VoicebotError`)."""
        if stream is None:
            return 0.0, "", 0.0
        started = time.perf_counter()
        # a failing recogniser raises: the session hands the caller over (an empty
        # transcript instead would leave the caller unheard, turn after turn)
        final = await asyncio.get_running_loop().run_in_executor(None, stream.finish)
        return (time.perf_counter() - started) * 1000, final.text, float(final.confidence)

    def _speculate(self, paused: SpeechPaused) -> None:
        """A pause in a turn that is not a digit question: decode the audio so far now
        (:mod:`voicebot.speculation`); the endpoint uses it if no speech comes first."""
        if (
            self._stream is None
            or self._held is not None
            or self.max_digits  # digits and postcodes: the early end decodes at its pause
            or self.expect in ("digits", "spelled")
            or self.cfg.speculative_decode_ms <= 0
            or not self._segment
        ):
            return
        # the endpoint's decode would also hear the rest of the endpoint silence: stand in
        # zeros for it, so both decodes hear audio of the same length
        segmenter = self.detector.segmenter
        frames = round(segmenter.end_silence_ms / segmenter.frame_ms) - 1
        frames -= max(1, round(segmenter.pause_ms / segmenter.frame_ms))
        rest = np.zeros(max(0, frames) * self.detector.frame_samples, np.int16)
        self._speculation = Speculation.start(
            paused,
            self.recognizer,
            np.concatenate([*self._segment, rest]),
            self._stream_expect,
            self.rate,
            self.max_digits,
        )

    async def _finish(self, ended: SpeechEnded) -> Transcript | None:
        stream, self._stream = self._stream, None
        speculation, self._speculation = self._speculation, None
        if stream is None:
            self.last_segment = np.concatenate(self._segment) if self._segment else None
            return None
        early = await speculation.result() if speculation and speculation.matches(ended) else None
        if early is not None:
            asr_ms, final = early
            text, confidence = final.text, float(final.confidence)
        else:
            asr_ms, text, confidence = await self._decode(stream)
        return self._ended(ended, text, confidence, asr_ms)[1]
