"""What a call does when a component fails mid-call: the caller is never dropped.

Any error in the speech recogniser, the dialog (the action server included), the TTS, a
store or the line, anywhere in a :class:`~voicebot.session.CallSession`, ends in
:meth:`Recovery.run`, once per call:

1. what is playing is stopped (by the session);
2. a hand-off record for the default department, reason ``technical_error``, is written
   durably, *before* the transfer;
3. a short apology is played: the words synthesized when the pipeline loaded
   (:class:`FallbackPrompts`, so a failing TTS still apologises), else synthesized now,
   else a tone; never silence;
4. the caller is transferred to the default department;
5. when it is closed or the transfer fails, a message is taken: the caller's audio is
   recorded until a pause (a level threshold: no model needed, the failing one may be the
   recogniser), transcribed if the recogniser still works, and stored durably before
   "saved" is said.

Every step catches its own failure, so a failure inside the failure path still ends with a
transfer attempt or a stored message, and :meth:`Recovery.run` never raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicebot.events import DtmfDigit, Handoff, HandoffReason
from voicebot.line import AudioIn, HungUp, Int16Array, Line, LineInput
from voicebot.stages import Recognizer, Speaker

log = logging.getLogger(__name__)

PROMPTS: dict[str, str] = {
    "transfer": (
        "I'm sorry, something went wrong on our side. I'm putting you through to a colleague now."
    ),
    "closed": (
        "I'm sorry, something went wrong on our side, and nobody can take your call right now. "
        "Please leave a short message after the tone, and we will call you back."
    ),
    "transfer_failed": (
        "I'm sorry, nobody can take your call right now. Please leave a short message after "
        "the tone, and we will call you back."
    ),
    "saved": "Thank you, your message has been saved. Goodbye.",
    "not_saved": "I'm sorry, your message could not be saved. Please call again later. Goodbye.",
}
"""What the caller hears on the failure path, by step."""

SYNTH_TIMEOUT_S = 5.0
"""A prompt not prepared in advance is synthesized now if that takes less than this, s."""


def tone(rate: int, freq_hz: float = 660.0, beeps: int = 2, beep_s: float = 0.25) -> Int16Array:
    """``beeps`` short sine beeps (0.15 s apart) at ``rate`` Hz: the sound of last resort."""
    t = np.arange(int(rate * beep_s)) / rate
    beep = (6000 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)
    gap = np.zeros(int(rate * 0.15), dtype=np.int16)
    return np.concatenate([np.concatenate([beep, gap]) for _ in range(beeps)])


class FallbackPrompts:
    """The failure path's prompts as audio at ``rate`` Hz, made ahead of any call by
    :meth:`prepare` (the pipeline does it when it loads), so they play when the TTS fails."""

    def __init__(self, rate: int, speaker: Speaker | None = None) -> None:
        self.rate = rate
        self.speaker = speaker
        self._audio: dict[str, Int16Array] = {}

    def prepare(self) -> int:
        """Synthesize every prompt now (blocking); returns how many were made."""
        for key in PROMPTS:
            if key not in self._audio:
                audio = self._synthesize(key)
                if audio is not None:
                    self._audio[key] = audio
        return len(self._audio)

    def prepared(self, key: str) -> bool:
        return key in self._audio

    def _synthesize(self, key: str) -> Int16Array | None:
        if self.speaker is None:
            return None
        try:
            parts = list(self.speaker.sentences(PROMPTS[key]))
        except Exception as exc:  # noqa: BLE001 - any TTS failure means "use the tone"
            log.warning("fallback prompt %r not synthesized: %s", key, exc)
            return None
        return np.concatenate(parts).astype(np.int16) if parts else None

    async def audio(self, key: str) -> tuple[Int16Array, bool]:
        """The prompt's audio and whether it is speech (False: the tone stands in for it)."""
        if key in self._audio:
            return self._audio[key], True
        loop = asyncio.get_running_loop()
        try:
            made = await asyncio.wait_for(
                loop.run_in_executor(None, self._synthesize, key), SYNTH_TIMEOUT_S
            )
        except TimeoutError:
            made = None
        if made is not None:
            self._audio[key] = made
            return made, True
        return tone(self.rate), False


class LineInputs:
    """A line's inputs as one reader that the session and the failure path share.

    One read may be pending across several waits (:meth:`pending`): it is never cancelled,
    since cancelling a read would end the line's input generator.
    """

    def __init__(self, source: AsyncIterator[LineInput]) -> None:
        self._source = source
        self._next: asyncio.Future[LineInput] | None = None
        self.ended = False

    def pending(self) -> asyncio.Future[LineInput]:
        if self._next is None:
            # a native coroutine: ensure_future(__anext__()) took asyncio's slow path for
            # awaitables (an ABC check and a wrapper generator) once per frame
            self._next = asyncio.get_running_loop().create_task(self._read())
        return self._next

    async def _read(self) -> LineInput:
        return await self._source.__anext__()

    async def next(self) -> LineInput | None:
        """The next input; None once the line has no more (hung up or gone)."""
        if self.ended:
            return None
        future = self.pending()
        try:
            item = await asyncio.shield(future)
        except StopAsyncIteration:
            item = None
        self._next = None
        if item is None or isinstance(item, HungUp):
            self.ended = True
            return None
        return item


@dataclass
class MessageTaking:
    """How a message is recorded on the failure path (times on the line clock, s)."""

    max_s: float = 30.0
    """The longest message."""
    no_speech_s: float = 10.0
    """Give up when the caller says nothing for this long."""
    end_pause_s: float = 1.5
    """The message ends at a pause this long after speech."""
    speech_dbfs: float = -40.0
    """A frame louder than this is speech, dBFS."""
    talk_over_frames: int = 10
    """This many loud frames in a row over the prompt before a message start the message."""


@dataclass
class Recovery:
    """The failure path of one call (see the module docstring)."""

    call_id: str
    line: Line
    bridge: Any  # voicebot.dialog.bridge.DialogBridge
    recognizer: Recognizer
    inputs: LineInputs
    idle: asyncio.Event
    prompts: FallbackPrompts
    errors: list[str]
    timeline: list[tuple[float, str, str]]
    record_messages: bool = True
    taking: MessageTaking = field(default_factory=MessageTaking)
    transfer: str | None = None
    """``department:result`` of the transfer attempt, for the call result."""

    async def run(self, handoff: Handoff) -> None:
        """Record, apologise, transfer; take a message when that fails. Never raises."""
        try:
            await self._run(handoff)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: log, end the call
            log.exception("call %s: the failure path failed", self.call_id)
            self.errors.append(f"internal-error: failure path: {exc}")
        finally:
            self.idle.set()

    async def _run(self, handoff: Handoff) -> None:
        self._write_record(handoff)
        if handoff.is_open and handoff.transfer_uri:
            await self._play("transfer")
            result = await self._transfer(handoff)
            self.transfer = f"{handoff.department}:{result}"
            if result == "accepted":
                return
            log.warning("call %s: fallback transfer failed: %s", self.call_id, result)
            started = await self._play("transfer_failed")
        else:
            started = await self._play("closed")
        await self._take_message(handoff, started)

    # ------------------------------------------------------------------ steps

    def _write_record(self, handoff: Handoff) -> None:
        try:
            self.bridge.record_handoff(self.call_id, handoff)
        except Exception as exc:  # noqa: BLE001 - a lost record must not stop the transfer
            log.error("call %s: hand-off record not written: %s", self.call_id, exc)
            self.errors.append(f"{getattr(exc, 'code', 'internal-error')}: {exc}")

    async def _transfer(self, handoff: Handoff) -> str:
        if self.inputs.ended:
            return "failed"
        try:
            record = self.bridge.handoff_record(self.call_id, handoff)
            headers = record.sip_headers()
        except Exception as exc:  # noqa: BLE001 - transfer without context rather than not
            log.error("call %s: no hand-off headers: %s", self.call_id, exc)
            headers = {"X-Voicebot-Reason": str(HandoffReason.TECHNICAL_ERROR)}
        try:
            return str(await self.line.transfer(handoff.transfer_uri, headers))
        except Exception as exc:  # noqa: BLE001
            log.error("call %s: transfer raised: %s", self.call_id, exc)
            self.errors.append(f"{getattr(exc, 'code', 'internal-error')}: transfer: {exc}")
            return "failed"

    async def _play(self, key: str) -> list[Int16Array]:
        """Play one prompt to the end, reading caller input meanwhile. Before a message
        (``closed``, ``transfer_failed``) the caller may start talking over the prompt: it
        stops, and the caller's audio from the start of the speech is returned (the start
        of the message); otherwise caller input is dropped and [] returned."""
        if self.inputs.ended:
            return []
        audio, spoken = await self.prompts.audio(key)
        self.timeline.append((self.line.now(), "bot", PROMPTS[key] if spoken else "[tone]"))
        message_next = key in ("closed", "transfer_failed")
        speech: list[Int16Array] = []
        try:
            await self.line.play(audio)
            if message_next:
                await self.line.play(tone(self.line.rate, 880.0, 1, 0.3))  # "after the tone"
            played = asyncio.ensure_future(self.line.wait_played())
            self.idle.set()
            while not played.done():
                read = self.inputs.pending()
                waiters: set[asyncio.Future[Any]] = {played, read}
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    continue
                item = await self.inputs.next()
                if item is None:
                    self.line.stop_playback()  # the caller hung up: nobody to play to
                elif message_next and isinstance(item, AudioIn):
                    speech = speech + [item.samples] if self._loud(item.samples) else []
                    if len(speech) >= self.taking.talk_over_frames:
                        self.line.stop_playback()  # the caller is leaving the message
                if item is None or len(speech) >= self.taking.talk_over_frames:
                    await played
        except Exception as exc:  # noqa: BLE001 - a broken line: the next step still runs
            log.error("call %s: fallback prompt %s not played: %s", self.call_id, key, exc)
            self.errors.append(f"{getattr(exc, 'code', 'internal-error')}: playback: {exc}")
        return speech if len(speech) >= self.taking.talk_over_frames else []

    def _loud(self, samples: Int16Array) -> bool:
        level = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0
        return level > 32768 * 10 ** (self.taking.speech_dbfs / 20)

    async def _record(self, started: list[Int16Array]) -> Int16Array | None:
        """The caller's message: ``started`` (speech over the prompt), then audio until a
        pause after speech (see :class:`MessageTaking`), the hang-up or ``#``; None when
        nothing was said."""
        cfg = self.taking
        start = self.line.now()
        frames: list[Int16Array] = list(started)
        spoke_at: float | None = start if started else None
        loud_at = start
        self.idle.set()
        while (item := await self.inputs.next()) is not None:
            now = self.line.now()
            if isinstance(item, DtmfDigit) and item.digit == "#":
                break
            if isinstance(item, AudioIn):
                frames.append(item.samples)
                if self._loud(item.samples):
                    spoke_at = spoke_at if spoke_at is not None else now
                    loud_at = now
            if now - start > cfg.max_s:
                break
            if spoke_at is None and now - start > cfg.no_speech_s:
                break
            if spoke_at is not None and now - loud_at > cfg.end_pause_s:
                break
        self.idle.clear()
        if spoke_at is None or not frames:
            return None
        return np.concatenate(frames).astype(np.int16)

    async def _transcribe(self, audio: Int16Array) -> str:
        def decode() -> str:
            stream = self.recognizer.open_stream("free", sample_rate=self.line.rate)
            stream.accept(audio)
            return str(stream.finish().text)

        try:
            return await asyncio.get_running_loop().run_in_executor(None, decode)
        except Exception as exc:  # noqa: BLE001 - the recording is kept either way
            log.warning("call %s: message not transcribed: %s", self.call_id, exc)
            return ""

    async def _take_message(self, handoff: Handoff, started: list[Int16Array]) -> None:
        audio = await self._record(started)
        if audio is None:
            log.info("call %s: no message left", self.call_id)
            if not self.inputs.ended:
                await self.line.hangup()
            return
        text = await self._transcribe(audio)
        self.timeline.append((self.line.now(), "caller", text or "[message, not transcribed]"))
        saved = self._store(handoff, audio, text)
        await self._play("saved" if saved else "not_saved")
        if not self.inputs.ended:
            await self.line.hangup()

    def _store(self, handoff: Handoff, audio: Int16Array, text: str) -> bool:
        """Keep the recording and the message durably (the hand-off desk writes both);
        True once both are on disk."""
        try:
            self.bridge.desk.take_message(
                self.bridge.conversation(self.call_id),
                {
                    "department": handoff.department,
                    "reason": str(HandoffReason.TECHNICAL_ERROR),
                    "text": text,
                },
                stored_text=text or "[recording only: speech recognition failed]",
                audio=audio if self.record_messages else None,
                rate=self.line.rate,
            )
            return True
        except Exception as exc:  # noqa: BLE001 - say so rather than "saved"
            log.error("call %s: message not stored: %s", self.call_id, exc)
            self.errors.append(f"{getattr(exc, 'code', 'internal-error')}: message: {exc}")
            return False
