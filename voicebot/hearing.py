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
* words after a number held as unsure ("no thank you goodbye" 1 s after the PIN) are
  decoded on their own in free mode: with no digit in them, the number's turn ends as
  heard, and the words are a turn of their own (two turns at once: the session answers the
  second once its reply to the first was spoken).

The held groups' audio and the decodes not told the length are :class:`~voicebot.
held_groups.HeldGroups`; what was heard and when the turn is due, :mod:`voicebot.digit_hold`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import numpy as np

from voicebot.audio.vad import SpeechChunk, SpeechDetector
from voicebot.digit_hold import in_progress, start_hold
from voicebot.errors import VoicebotError
from voicebot.events import ExpectedInput, SpeechEnded, SpeechPaused, SpeechStarted, Transcript
from voicebot.held_groups import HeldGroups
from voicebot.line import Int16Array
from voicebot.numbers import answer_state
from voicebot.session_config import SessionConfig
from voicebot.speculation import Speculation
from voicebot.stages import Recognizer, SpeechStream

log = logging.getLogger(__name__)

HeardEvent = SpeechStarted | SpeechEnded | Transcript


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
        self._turn_ends: list[TurnEnd] = []
        self._end_silence_ms = detector.segmenter.end_silence_ms
        self._pause_ms = detector.segmenter.pause_ms
        self._segment_start_s = 0.0
        self._speculation: Speculation | None = None
        self._stream_expect: ExpectedInput = "free"
        self.held = HeldGroups(recognizer, rate, config, call_id)
        """The number read in groups while the caller is mid-number (voicebot.held_groups)."""

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
        if self.held.number is not None:  # a new question: end the held number's turn as it is
            self.held.release = True

    def take_turn_end(self) -> TurnEnd | None:
        """How the oldest turn not yet taken ended (once: cleared by the call). Two turns
        end at once only when words follow a number held as unsure (the number first)."""
        return self._turn_ends.pop(0) if self._turn_ends else None

    async def hear(self, samples: Int16Array) -> AsyncIterator[HeardEvent]:
        """Take line audio; yield the events it completes, in order (decodes run in the
        default executor, so the event loop never blocks on the ASR)."""
        ended_early = False
        held_threshold = self.cfg.digits_held_vad_threshold
        self.detector.segmenter.start_threshold = (
            held_threshold if held_threshold > 0 and self.held.number is not None else None
        )
        for out in await self.detector.feed_async(samples):
            if isinstance(out, SpeechStarted):
                # mid-number, a question that takes words too is decoded as digits now
                expect = "digits" if self.held.number is not None else self.expect
                self._stream_expect = expect
                self._stream = self.recognizer.open_stream(
                    expect, sample_rate=self.rate, length=self.max_digits
                )
                self._segment = []
                self._segment_start_s = out.audio_start_s
                self._speculation = None
                ended_early = False
                # the next group of a held number: the turn stays open, and the stream
                # hears the number from its first group on
                if not await self.held.open_segment(self._stream, out):
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
                    if self._stream is not None:
                        await self.held.paused_mid_number(self._audio(), self.max_digits)
                    self._speculate(out)
            elif isinstance(out, SpeechChunk):
                self._segment.append(out.samples)
                if self._stream is not None:
                    partial = self._stream.accept(out.samples)
                    if partial:
                        yield Transcript(out.time_s, partial, final=False)
            elif isinstance(out, SpeechEnded):
                if not self.held.may_hold(self.max_digits) and self.held.number is None:
                    yield out
                    final = await self._finish(out)
                    if final is not None:
                        yield final
                else:
                    for event in await self._finish_group(out):
                        yield event
        number = self.held.number
        if number is not None and not number.speaking:
            now = self.detector.segmenter.time_at(self.detector.segmenter.frames)
            if self.held.release or number.due(now):
                for event in self._release(now):
                    yield event

    def _audio(self) -> Int16Array:
        """The open segment's audio so far."""
        return np.concatenate(self._segment) if self._segment else np.zeros(0, np.int16)

    async def _finish_group(self, ended: SpeechEnded) -> list[HeardEvent]:
        """A segment ended while a number of known length is asked for: decode it, then
        hold its digits when the number is still incomplete (no event: the turn stays
        open), else end the turn with everything heard. Words after a number held as
        unsure end the number's turn, then are a turn of their own."""
        stream, self._stream = self._stream, None
        words = await self.held.words_after(self._audio(), ended)
        if words is not None:
            return self._words_after_number(ended, *words)
        asr_ms, text, confidence = await self._decode(stream)
        unsure = False
        if not ended.forced and not self.held.release and self._claims_complete(text):
            answer, confirm_ms = await self.held.confirm(
                text,
                confidence,
                self._audio(),
                self._segment_start_s,
                ended.end_s,
                self.max_digits,
            )
            asr_ms += confirm_ms
            unsure = answer is None
            text = answer or text
        self.held.keep(self._audio(), ended.end_s - self._segment_start_s)
        number = self.held.number
        if number is None:
            number = start_hold(
                text,
                confidence,
                ended.start_s,
                ended.end_s,
                self.max_digits or 0,
                self.held.timeout_s,
                unsure=unsure,
            )
            if number is None and self.expect == "free":
                number = await self.held.tentative(ended, text, confidence, self.max_digits)
            if number is not None and not ended.forced and not self.held.release:
                self.held.number = number
                await self.held.count_groups()
                return []
            self.held.take()
            return list(self._ended(ended, text, confidence, asr_ms))
        number.add(text, confidence, ended.end_s, unsure=unsure)
        if number.incomplete() and not ended.forced and not self.held.release:
            await self.held.count_groups()
            return []  # still mid-number: wait for the next group
        return list(self._release(ended.time_s, ended, asr_ms))

    def _words_after_number(
        self, ended: SpeechEnded, text: str, confidence: float, asr_ms: float
    ) -> list[HeardEvent]:
        """The held number's turn, ended where the words began, then the words' own turn
        (its start, end and transcript): :meth:`HeldGroups.words_after`."""
        started = self.held.started
        assert started is not None
        own = self._segment
        number = self._release(started.time_s)
        self._segment = own
        return [*number, started, *self._ended(ended, text, confidence, asr_ms, queue=True)]

    def _claims_complete(self, text: str) -> bool:
        """:meth:`HeldGroups.claims_complete` for the open segment."""
        return self.held.claims_complete(text, self._audio(), self.max_digits)

    def _release(
        self, when: float, ended: SpeechEnded | None = None, asr_ms: float = 0.0
    ) -> tuple[SpeechEnded, Transcript]:
        """End the held number's turn at ``when`` (s): the end of its last segment, or the
        incomplete timeout (then no decode is waiting: ``asr_ms`` 0)."""
        number, audio = self.held.take()
        assert number is not None
        if ended is None:
            ended = SpeechEnded(time_s=when, start_s=number.start_s, end_s=number.end_s)
        else:
            ended = replace(ended, start_s=number.start_s)
        self._segment = audio
        text, confidence = number.answer()
        return self._ended(ended, text, confidence, asr_ms, groups=number.groups)

    def _ended(
        self,
        ended: SpeechEnded,
        text: str,
        confidence: float,
        asr_ms: float,
        *,
        early: bool = False,
        groups: int = 1,
        queue: bool = False,
    ) -> tuple[SpeechEnded, Transcript]:
        """The events that end a turn: the endpoint, then its final transcript (``queue``:
        a second turn ended at once, taken after the first)."""
        self.last_segment = np.concatenate(self._segment) if self._segment else None
        end = TurnEnd(ended, asr_ms, early=early, groups=groups)
        self._turn_ends = [*self._turn_ends, end] if queue else [end]
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
        number = self.held.number
        if (
            heard is None
            or float(heard.confidence) < self.cfg.confirm_below
            or answer_state(heard.text, self.expect, self.max_digits) == "open"
            or (
                self.held.may_hold(self.max_digits)
                and in_progress(heard.text, self.max_digits or 0)
            )
        ):
            return None
        text = heard.text
        if self._claims_complete(text):
            answer = (
                await self.held.confirm(
                    text,
                    float(heard.confidence),
                    self._audio(),
                    self._segment_start_s,
                    paused.end_s,
                    self.max_digits,
                )
            )[0]
            if answer is None:
                return None  # told the length, the decode may have filled it: keep listening
            text = answer
        ended = self.detector.end_early(paused)
        if ended is None:  # speech resumed while decoding
            return None
        self._stream = None
        asr_ms = (time.perf_counter() - started) * 1000
        if number is not None:
            number.add(text, float(heard.confidence), ended.end_s)
            self.held.keep(self._audio(), ended.end_s - self._segment_start_s)
            events = self._release(ended.time_s, ended, asr_ms)
            self._turn_ends = [replace(end, early=True) for end in self._turn_ends]
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
            or self.held.number is not None
            or self.max_digits  # digits and postcodes: the early end decodes at its pause
            or self.expect in ("digits", "spelled")
            or self.cfg.speculative_decode_ms <= 0
            or not self._segment
        ):
            return
        # the endpoint's decode would also hear the rest of the endpoint silence: stand in
        # the pause's own silence, repeated, for it (the line's hiss or hum, not digital
        # zeros, which Whisper hears differently), so both decodes hear the same length
        segmenter = self.detector.segmenter
        pause_frames = max(1, round(segmenter.pause_ms / segmenter.frame_ms))
        frames = round(segmenter.end_silence_ms / segmenter.frame_ms) - 1 - pause_frames
        quiet = np.concatenate(self._segment[-pause_frames:])
        rest = np.resize(quiet, max(0, frames) * self.detector.frame_samples)
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
