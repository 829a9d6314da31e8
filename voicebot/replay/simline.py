"""A simulated phone line that plays a recorded caller case into a call session.

The line's clock is the position in the caller's audio stream (virtual time): the caller
script is fed as fast as the session takes it, silence included, so a 30-second call runs
in a few seconds, always the same way. The caller behaves like a polite person: each turn
starts a short gap after the bot's prompt has finished, unless the turn barges in
(``barge_in_ms`` after the prompt starts). Bot audio is laid on the same timeline, cut where
a barge-in stopped it, and written out as the bot's side of the call.

Stage times (ASR, dialog, TTS) are measured on the wall clock by the session; the
virtual timeline only orders events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voicebot.callids import new_call_id
from voicebot.events import DtmfDigit
from voicebot.line import AudioIn, HungUp, Int16Array, LineInput, TransferResult
from voicebot.replay.cases import CallerCase


@dataclass
class SimulatedLine:
    """Implements :class:`voicebot.line.Line` for a :class:`CallerCase`."""

    case: CallerCase
    rate: int = 8000
    frame_ms: float = 20.0
    """Caller audio is delivered in frames of this length, ms."""
    gap_s: float = 0.5
    """The caller starts speaking this long after the bot's prompt ends, s."""
    trailing_s: float = 1.0
    """Silence after each caller utterance (lets the endpointer close the turn), s."""
    dtmf_gap_s: float = 0.15
    """Time between keypad digits, s."""
    tail_s: float = 1.5
    """After the last caller turn, the caller waits this long after the bot, then hangs up, s."""
    align_samples: int = 256
    """Caller turns start on multiples of this many samples (32 ms at 8 kHz: Silero's frame)."""
    transfer_result: TransferResult = "accepted"
    """What a transfer attempt returns (``busy`` etc. to test failed transfers)."""

    call_id: str = ""
    caller_id: str | None = None
    sip_call_id: str | None = None
    """A SIP Call-ID to carry as data (a simulated call has none)."""
    session_idle: asyncio.Event | None = None
    """Set by the session when it is waiting for the caller (not thinking or synthesising)."""

    transfers: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    hung_up_by_bot: bool = False
    barge_ins: list[float] = field(default_factory=list)
    """How much of the interrupted prompt the caller heard at each barge-in, ms."""

    def __post_init__(self) -> None:
        self.call_id = self.call_id or new_call_id()
        self.caller_id = self.caller_id or self.case.caller_id
        self._pos = 0  # samples of caller stream delivered
        self._frame = int(self.rate * self.frame_ms / 1000)
        self._bot: list[tuple[int, Int16Array]] = []
        self._caller: list[tuple[int, Int16Array]] = []
        self._play_end = 0
        self._utterance_start: int | None = None
        self._stopped = False
        self._ended = False
        self._moved = asyncio.Event()

    # ------------------------------------------------------------------ Line protocol

    def now(self) -> float:
        return self._pos / self.rate

    async def play(self, samples: Int16Array) -> None:
        start = max(self._pos, self._play_end)
        if self._utterance_start is None or self._play_end <= self._pos:
            self._utterance_start = start
        self._stopped = False
        self._bot.append((start, np.asarray(samples, dtype=np.int16)))
        self._play_end = start + len(samples)

    async def wait_played(self) -> bool:
        while self._pos < self._play_end and not self._stopped and not self._ended:
            self._moved.clear()
            await self._moved.wait()
        return not self._stopped

    def stop_playback(self) -> float:
        heard = 0.0
        if self._utterance_start is not None:
            heard = max(0.0, (self._pos - self._utterance_start) * 1000 / self.rate)
        cut = self._pos
        kept: list[tuple[int, Int16Array]] = []
        for start, audio in self._bot:
            if start >= cut:
                continue
            kept.append((start, audio[: max(0, cut - start)]))
        self._bot = kept
        if self._play_end > cut:
            self.barge_ins.append(heard)
        self._play_end = min(self._play_end, cut)
        self._stopped = True
        self._moved.set()
        return heard

    async def transfer(self, uri: str, headers: dict[str, str]) -> TransferResult:
        self.transfers.append((uri, dict(headers)))
        if self.transfer_result == "accepted":
            self._ended = True
            self._moved.set()
        return self.transfer_result

    async def hangup(self) -> None:
        self.hung_up_by_bot = True
        self._ended = True
        self._moved.set()

    # ------------------------------------------------------------------ the caller

    async def _advance(self, samples: Int16Array | None, n: int) -> AsyncIterator[LineInput]:
        """Deliver ``n`` samples (``samples`` or silence) frame by frame."""
        done = 0
        while done < n and not self._ended:
            # the caller's clock stands still while the bot thinks or synthesises, so a run
            # is the same whatever the machine's speed (stage times are measured apart)
            await self._bot_done()
            size = min(self._frame, n - done)
            chunk = (
                samples[done : done + size]
                if samples is not None
                else np.zeros(size, dtype=np.int16)
            )
            if samples is not None:
                self._caller.append((self._pos, chunk))
            yield AudioIn(self.now(), chunk)
            self._pos += size
            done += size
            self._moved.set()
            await asyncio.sleep(0)

    async def _silence_until(self, target: int) -> AsyncIterator[LineInput]:
        # Start caller turns on a fixed sample grid: Piper's stochastic durations make bot
        # prompts vary by a few ms between runs, and the VAD's frames must line up the same
        # way with the caller's audio for a run to repeat exactly.
        grid = self.align_samples
        target = max(target, self._pos)
        target = -(-target // grid) * grid if grid > 1 else target
        async for item in self._advance(None, max(0, target - self._pos)):
            yield item

    async def _bot_done(self) -> None:
        if self.session_idle is not None:
            await self.session_idle.wait()

    async def inputs(self) -> AsyncIterator[LineInput]:
        gap = int(self.gap_s * self.rate)
        for turn in self.case.turns:
            if self._ended:
                break
            await self._bot_done()
            if turn.kind == "pause":
                async for item in self._advance(None, int(turn.pause_s * self.rate)):
                    yield item
                continue
            if turn.barge_in_ms is None:
                async for item in self._silence_until(self._play_end + gap):
                    yield item
            else:
                start = self._utterance_start if self._utterance_start is not None else self._pos
                async for item in self._silence_until(
                    start + int(turn.barge_in_ms * self.rate / 1000)
                ):
                    yield item
            if turn.kind == "dtmf":
                for digit in turn.digits:
                    if self._ended:
                        break
                    await self._bot_done()
                    yield DtmfDigit(self.now(), digit)
                    async for item in self._advance(None, int(self.dtmf_gap_s * self.rate)):
                        yield item
                wait = self.trailing_s if turn.digits.endswith("#") else 3.5
                async for item in self._advance(None, int(wait * self.rate)):
                    yield item
                continue
            assert turn.audio is not None
            async for item in self._advance(turn.audio, len(turn.audio)):
                yield item
            async for item in self._advance(None, int(self.trailing_s * self.rate)):
                yield item
        if not self._ended:
            await self._bot_done()
            async for item in self._silence_until(self._play_end + int(self.tail_s * self.rate)):
                yield item
        if not self._ended:
            yield HungUp(self.now())

    # ------------------------------------------------------------------ recordings

    def _track(self, parts: list[tuple[int, Int16Array]]) -> Int16Array:
        length = max([self._pos, self._play_end] + [s + len(a) for s, a in parts])
        out = np.zeros(length, dtype=np.int32)
        for start, audio in parts:
            out[start : start + len(audio)] += audio
        return np.clip(out, -32768, 32767).astype(np.int16)

    def bot_audio(self) -> Int16Array:
        """The bot's side of the call on the call's timeline."""
        return self._track(self._bot)

    def caller_audio(self) -> Int16Array:
        return self._track(self._caller)

    def write_recordings(self, bot_path: Path, stereo_path: Path | None = None) -> None:
        """Bot side as a WAV; optionally both sides as stereo (left caller, right bot)."""
        import soundfile as sf

        bot = self.bot_audio()
        bot_path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(bot_path), bot, self.rate, subtype="PCM_16")
        if stereo_path is not None:
            caller = self.caller_audio()
            n = max(len(bot), len(caller))
            both = np.zeros((n, 2), dtype=np.int16)
            both[: len(caller), 0] = caller
            both[: len(bot), 1] = bot
            sf.write(str(stereo_path), both, self.rate, subtype="PCM_16")
