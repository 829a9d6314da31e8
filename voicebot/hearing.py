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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from voicebot.audio.vad import SpeechChunk, SpeechDetector
from voicebot.errors import VoicebotError
from voicebot.events import ExpectedInput, SpeechEnded, SpeechPaused, SpeechStarted, Transcript
from voicebot.line import Int16Array
from voicebot.numbers import answer_state
from voicebot.session_config import SessionConfig
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
    """

    ended: SpeechEnded
    asr_ms: float
    early: bool = False


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
        segmenter.pause_ms = early if can_end_early else self._pause_ms

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
                self._stream = self.recognizer.open_stream(
                    self.expect, sample_rate=self.rate, length=self.max_digits
                )
                self._segment = []
                ended_early = False
                yield out
            elif ended_early:
                continue  # the silence after a turn that ended early
            elif isinstance(out, SpeechPaused):
                early = await self._end_early(out)
                if early is not None:
                    ended_early = True
                    yield early[0]
                    yield early[1]
            elif isinstance(out, SpeechChunk):
                self._segment.append(out.samples)
                if self._stream is not None:
                    partial = self._stream.accept(out.samples)
                    if partial:
                        yield Transcript(out.time_s, partial, final=False)
            elif isinstance(out, SpeechEnded):
                yield out
                final = await self._finish(out)
                if final is not None:
                    yield final

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
        if (
            heard is None
            or float(heard.confidence) < self.cfg.confirm_below
            or answer_state(heard.text, self.expect, self.max_digits) == "open"
        ):
            return None
        ended = self.detector.end_early(paused)
        if ended is None:  # speech resumed while decoding
            return None
        self._stream = None
        self.last_segment = np.concatenate(self._segment) if self._segment else None
        self._turn_end = TurnEnd(ended, (time.perf_counter() - started) * 1000, early=True)
        return ended, Transcript(ended.time_s, heard.text, float(heard.confidence), final=True)

    async def _finish(self, ended: SpeechEnded) -> Transcript | None:
        stream, self._stream = self._stream, None
        self.last_segment = np.concatenate(self._segment) if self._segment else None
        if stream is None:
            return None
        started = time.perf_counter()
        # a failing recogniser raises: the session hands the caller over (an empty
        # transcript instead would leave the caller unheard, turn after turn)
        final = await asyncio.get_running_loop().run_in_executor(None, stream.finish)
        text, confidence = final.text, float(final.confidence)
        self._turn_end = TurnEnd(ended, (time.perf_counter() - started) * 1000)
        return Transcript(ended.time_s, text, confidence, final=True)
