"""Speculative final decode: start the ASR at a short pause instead of at the endpoint.

A caller's turn ends after ``vad.end_silence_ms`` of silence (200 ms). Waiting for that
silence and only then decoding puts the whole decode (150-300 ms with Whisper tiny.en) after
the wait. At a shorter pause (``session.speculative_decode_ms``, a
:class:`~voicebot.events.SpeechPaused` hint) :class:`Speculation` decodes a *copy* of the
segment's audio so far in the default executor, while the silence goes on:

* the caller speaks again: the result is discarded (the next pause starts a new one);
* the pause becomes the endpoint (a :class:`~voicebot.events.SpeechEnded` with the same
  ``start_s`` and ``end_s``): the result already computed (or still running) is the turn's
  final transcript, so the turn only waits for what is left of the decode.

The early decode hears the speech, the ``speculative_decode_ms`` of silence after it and
that pause's own silence repeated for the rest of the endpoint silence
(:meth:`voicebot.hearing.Hearing._speculate`), so it hears audio of the same length as the
endpoint's decode would, with the line's hiss where the endpoint's decode would have it
(digital zeros there made Whisper tiny.en hear some turns differently: README "Turn
latency"). It is a function of the audio only, so replay stays deterministic. Digit
questions keep their own early end (:meth:`voicebot.hearing.Hearing._end_early`); this only
serves the other turns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from voicebot.errors import VoicebotError
from voicebot.events import ExpectedInput, SpeechEnded, SpeechPaused
from voicebot.line import Int16Array
from voicebot.stages import Recognizer

log = logging.getLogger(__name__)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Read a discarded decode's exception, so asyncio does not warn about it."""
    if not future.cancelled():
        future.exception()


@dataclass
class Speculation:
    """One decode started at a pause (see the module docstring).

    Attributes:
        paused: the pause it was started at (its ``start_s``/``end_s`` name the speech).
        future: the decode's :class:`~voicebot.asr.base.Transcript` (or its error).
        started: ``time.perf_counter()`` when the decode was started, s.
    """

    paused: SpeechPaused
    future: asyncio.Future[Any]
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(
        cls,
        paused: SpeechPaused,
        recognizer: Recognizer,
        audio: Int16Array,
        expect: ExpectedInput,
        rate: int,
        length: int | None,
    ) -> Speculation:
        """Decode ``audio`` (line rate, copied by the caller) in the default executor."""

        def decode() -> Any:
            stream = recognizer.open_stream(expect, sample_rate=rate, length=length)
            stream.accept(audio)
            return stream.finish()

        future = asyncio.get_running_loop().run_in_executor(None, decode)
        future.add_done_callback(_retrieve)
        return cls(paused, future)

    def matches(self, ended: SpeechEnded) -> bool:
        """Whether ``ended`` closes the very speech this decode heard (no speech since)."""
        return (
            not ended.forced
            and abs(ended.start_s - self.paused.start_s) < 1e-9
            and abs(ended.end_s - self.paused.end_s) < 1e-9
        )

    async def result(self) -> tuple[float, Any] | None:
        """(ms waited for it now, transcript); None when the decode failed (the caller then
        decodes again the usual way, which raises if the recogniser is really down)."""
        waited = time.perf_counter()
        try:
            final = await self.future
        except VoicebotError as exc:
            log.info("speculative decode failed, decoding again: %s", exc)
            return None
        return (time.perf_counter() - waited) * 1000, final
