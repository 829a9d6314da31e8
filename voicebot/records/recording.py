"""Optional stereo call recording (``records.recording``): caller left, bot right.

:class:`RecordingLine` wraps a call's :class:`~voicebot.line.Line`: it keeps the caller's
audio where the line clock puts it and the bot's audio where it was played (cut at a
barge-in). When the call ends the recorder writes one 16-bit stereo WAV with the caller's
answers to identification questions (the turns stored as ``[redacted]``: account number,
PIN, date of birth) replaced by silence, padded by :data:`SECRET_PAD_S` on both sides.
"""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.line import AudioIn, Int16Array, Line, LineInput, TransferResult

SECRET_PAD_S = 0.3
"""Silence added around an identification answer's speech (the endpointer's margins), s."""


class RecordingLine:
    """A :class:`Line` that records both sides of the call it wraps."""

    def __init__(self, line: Line) -> None:
        self.inner = line
        self.call_id = line.call_id
        self.caller_id = line.caller_id
        self.rate = line.rate
        self._caller: list[tuple[int, Int16Array]] = []
        self._bot: list[tuple[int, Int16Array]] = []
        self._bot_end = 0

    def __getattr__(self, name: str) -> Any:  # anything else the line offers
        return getattr(self.inner, name)

    def now(self) -> float:
        return self.inner.now()

    async def inputs(self) -> AsyncIterator[LineInput]:
        async for item in self.inner.inputs():
            if isinstance(item, AudioIn):
                self._caller.append((int(round(item.time_s * self.rate)), item.samples.copy()))
            yield item

    async def play(self, samples: Int16Array) -> None:
        start = max(int(round(self.now() * self.rate)), self._bot_end)
        self._bot.append((start, np.asarray(samples, dtype=np.int16).copy()))
        self._bot_end = start + len(samples)
        await self.inner.play(samples)

    async def wait_played(self) -> bool:
        return await self.inner.wait_played()

    def stop_playback(self) -> float:
        heard = self.inner.stop_playback()
        cut = int(round(self.now() * self.rate))
        self._bot = [(s, a[: max(cut - s, 0)]) for s, a in self._bot if s < cut]
        self._bot_end = min(self._bot_end, cut)
        return heard

    async def transfer(self, uri: str, headers: dict[str, str]) -> TransferResult:
        return await self.inner.transfer(uri, headers)

    async def hangup(self) -> None:
        await self.inner.hangup()

    def take(self) -> tuple[list[tuple[int, Int16Array]], list[tuple[int, Int16Array]]]:
        """The caller's and the bot's audio so far (start sample, samples), handed over."""
        caller, bot = self._caller, self._bot
        self._caller, self._bot = [], []
        return caller, bot


def _lay(parts: Sequence[tuple[int, Int16Array]], length: int) -> Int16Array:
    out = np.zeros(length, dtype=np.int16)
    for start, samples in parts:
        end = min(start + len(samples), length)
        if end > start:
            out[start:end] = samples[: end - start]
    return out


def write_stereo(
    path: Path,
    caller: Sequence[tuple[int, Int16Array]],
    bot: Sequence[tuple[int, Int16Array]],
    rate: int,
    silence_s: Sequence[tuple[float, float]] = (),
) -> Path:
    """Write the call as a stereo WAV (left caller, right bot) with the caller's channel
    silent over each (start s, end s) of ``silence_s``. Returns ``path``."""
    length = max([s + len(a) for s, a in [*caller, *bot]] or [0])
    left = _lay(caller, length)
    right = _lay(bot, length)
    for start_s, end_s in silence_s:
        a = max(int((start_s - SECRET_PAD_S) * rate), 0)
        b = min(int((end_s + SECRET_PAD_S) * rate), length)
        left[a:b] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.stack([left, right], axis=1).astype("<i2").tobytes())
    tmp.replace(path)
    return path
