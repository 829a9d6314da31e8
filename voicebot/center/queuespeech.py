"""Listening to a caller who waits in the queue: saying "I'd like to leave a message" works
like pressing the message key.

:class:`SpokenRequest` reads the caller's frames (PCM16 mono 8 kHz, 20 ms) while they wait,
cuts utterances with a simple level gate (the line is quiet between words: no music goes
back to the bot), has the bot's recognizer transcribe each (in an executor: it blocks), and
calls ``on_message`` when the words ask for a message (:func:`asks_for_message`). What was
heard is never logged: a caller may say their account number to nobody in particular.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from voicebot.telephony.callio import FRAME_MS, SAMPLE_RATE, CallIO

log = logging.getLogger(__name__)

_MESSAGE = re.compile(
    r"\b(message|messages|voicemail|voice mail|call me back|call back|callback)\b"
)


def asks_for_message(text: str) -> bool:
    """Whether the caller's words ask to leave a message (or be called back)."""
    return bool(_MESSAGE.search(text.lower()))


class SpokenRequest:
    """Utterances of a waiting caller, transcribed; ``on_message`` once one asks for it.

    Args:
        recognizer: the bot's recognizer (``open_stream(expect, sample_rate=...)``).
        on_message: called (on the event loop) when the caller asks for a message.
        start_dbfs: a frame this loud or louder is speech, dBFS.
        end_silence_s: this much quiet ends an utterance, s.
        max_utterance_s: an utterance is cut after this long, s.
    """

    def __init__(
        self,
        recognizer: Any,
        on_message: Callable[[], None],
        *,
        start_dbfs: float = -38.0,
        end_silence_s: float = 0.7,
        max_utterance_s: float = 8.0,
    ) -> None:
        self.recognizer = recognizer
        self.on_message = on_message
        self.start_dbfs = start_dbfs
        self.end_frames = int(end_silence_s * 1000 / FRAME_MS)
        self.max_frames = int(max_utterance_s * 1000 / FRAME_MS)
        self.utterances = 0
        """Utterances transcribed so far."""

    async def run(self, call: CallIO) -> None:
        """Listen until the call closes (or the task is cancelled)."""
        speech: list[np.ndarray] = []
        quiet = 0
        while (frame := await call.audio.get()) is not None:
            samples = np.frombuffer(frame, dtype="<i2")
            rms = math.sqrt(float(np.mean(samples.astype(np.float64) ** 2))) or 1e-9
            loud = 20 * math.log10(rms / 32768) >= self.start_dbfs
            if not speech and not loud:
                continue
            speech.append(samples)
            quiet = 0 if loud else quiet + 1
            if quiet >= self.end_frames or len(speech) >= self.max_frames:
                utterance = np.concatenate(speech[: len(speech) - quiet or None])
                speech, quiet = [], 0
                if utterance.size >= SAMPLE_RATE // 4 and await self._asks(utterance):
                    self.on_message()
                    return

    async def _asks(self, samples: np.ndarray) -> bool:
        def transcribe() -> str:
            stream = self.recognizer.open_stream("free", sample_rate=SAMPLE_RATE)
            stream.accept(samples.astype(np.int16))
            return str(stream.finish().text)

        try:
            text = await asyncio.get_running_loop().run_in_executor(None, transcribe)
        except Exception as exc:  # noqa: BLE001 - the key still works; say why once
            log.warning("queue: the waiting caller's words could not be recognised: %s", exc)
            return False
        self.utterances += 1
        return asks_for_message(text)
