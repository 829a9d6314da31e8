"""The phone line's per-call handler: a :class:`CallIO` driven by the voice pipeline.

``sip.handler`` points here (``voicebot.callhandler:handle_call``). Each worker process loads
the pipeline (dialog model, ASR, TTS) once, before its first call if :func:`prepare` is called
at start-up, and runs one :class:`~voicebot.session.CallSession` per call through
:class:`CallIOLine`, which adapts the SIP line's frames, digits, playback and transfer to the
:class:`~voicebot.line.Line` protocol the session speaks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from voicebot.center.callqueue import AcdLine, TransferHook, transfer_hook, voice
from voicebot.errors import VoicebotError
from voicebot.events import DtmfDigit
from voicebot.line import AudioIn, HungUp, Int16Array, LineInput, TransferResult
from voicebot.telephony.callio import FRAME_MS, SAMPLE_RATE, CallIO, PlayResult

log = logging.getLogger(__name__)


class CallIOLine:
    """:class:`voicebot.line.Line` over a SIP :class:`CallIO` (8 kHz, 20 ms frames)."""

    rate = SAMPLE_RATE

    def __init__(self, call: CallIO, acd: TransferHook | None = None) -> None:
        self.call = call
        self.acd = acd  # the built-in ACD (sip.acd): hand-offs to departments with agents
        self.call_id = call.details.call_id  # internal: the SIP Call-ID is only data
        self.sip_call_id = call.details.sip_call_id or None
        self.caller_id = call.details.caller_id or None
        self._frames = 0
        self._queue: asyncio.Queue[Int16Array | None] = asyncio.Queue()
        self._player: asyncio.Task[PlayResult] | None = None
        self._held: asyncio.Event | None = None  # set while a hand-off reads the call

    def now(self) -> float:
        """Position in the caller's audio stream, s."""
        return self._frames * FRAME_MS / 1000

    async def inputs(self) -> AsyncIterator[LineInput]:
        call = self.call
        audio, dtmf = call.audio, call.dtmf
        fast = 0
        while True:
            if self._held is not None:  # a hand-off reads the call's keys and audio itself
                await self._held.wait()
                continue
            if not dtmf.empty():
                yield DtmfDigit(self.now(), dtmf.get_nowait().digit)
                continue
            if audio.empty():
                if call.closed.is_set():  # another reader took the end marker
                    yield HungUp(self.now())
                    return
                fast = 0
                await call.input_ready()  # takes nothing: nothing to give back on a hand-off
                continue
            # frames already waiting: every few frames the other calls' tasks get a turn
            fast += 1
            if fast % 4 == 0:
                await asyncio.sleep(0)
                continue
            frame = audio.get_nowait()
            if frame is None:
                yield HungUp(self.now())
                return
            t = self.now()
            self._frames += 1
            yield AudioIn(t, np.frombuffer(frame, dtype="<i2").astype(np.int16))

    async def _chunks(self, queue: asyncio.Queue[Int16Array | None]) -> AsyncIterator[bytes]:
        while (chunk := await queue.get()) is not None:
            yield chunk.astype("<i2").tobytes()

    async def play(self, samples: Int16Array) -> None:
        if self._player is None or self._player.done():
            self._queue = asyncio.Queue()
            # play() hands back its task at once, so a barge-in right after stops it too
            self._player = self.call.play(self._chunks(self._queue))
        self._queue.put_nowait(samples)

    async def wait_played(self) -> bool:
        if self._player is None:
            return True
        self._queue.put_nowait(None)
        result = await self._player
        self._player = None
        return bool(result.completed)

    def stop_playback(self) -> float:
        played = self.call.stop_playback()
        self._queue.put_nowait(None)
        return float(played)

    async def transfer(self, uri: str, headers: dict[str, str]) -> TransferResult:
        if self.acd is not None:
            # the queue reads the caller's keys and audio itself: inputs() takes none meanwhile
            # (it reads only when a frame or key is queued, so nothing is held to give back)
            held = self._held = asyncio.Event()
            try:
                queued = await self.acd(uri, headers)
            finally:
                self._held = None
                held.set()
            if queued is not None:
                return queued  # type: ignore[return-value]
        result = await self.call.transfer(uri, headers)
        value = str(result)
        return "unsupported" if value == "not_supported" else value  # type: ignore[return-value]

    async def hangup(self) -> None:
        await self.call.hangup()


_pipeline = None
_loading: asyncio.Lock | None = None
_acd: AcdLine | None = None
_dumps_installed = False


def _install_dumps() -> None:
    """SIGUSR1 dumps every thread's stack, SIGUSR2 every call task's, to the worker log
    (``kill -USR2 PID`` to see where a stuck call waits)."""
    global _dumps_installed
    if _dumps_installed:
        return
    _dumps_installed = True
    import faulthandler
    import signal
    import sys

    faulthandler.register(signal.SIGUSR1, all_threads=True)

    def tasks() -> None:
        for task in asyncio.all_tasks():
            task.print_stack(limit=12, file=sys.stderr)
        sys.stderr.flush()

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, tasks)


def prepare() -> None:
    """Make the pipeline now (blocking), so the first call is answered at once: connect to
    the host's speech and dialog services (``services.mode: shared``, seconds), or load
    every model in this process (``inprocess``, about 30 s and 1.8 GB)."""
    global _pipeline, _acd
    if _pipeline is None:
        from voicebot.config import load_settings
        from voicebot.pipeline import Pipeline
        from voicebot.services.settings import services_config

        settings = load_settings()
        if services_config(settings).mode == "shared":
            _pipeline = Pipeline.connect(settings)
        else:
            _pipeline = Pipeline.load(settings)
        _acd = AcdLine.load(_pipeline.settings, _pipeline.departments)


async def handle_call(call: CallIO) -> None:
    """Run one call through the voice pipeline (the ``sip.handler`` entry point)."""
    global _loading
    _install_dumps()
    if _pipeline is None:
        _loading = _loading or asyncio.Lock()
        async with _loading:
            if _pipeline is None:
                await asyncio.get_running_loop().run_in_executor(None, prepare)
    assert _pipeline is not None
    if _acd is not None and await _acd.feature_call(call, voice(_pipeline.speaker)):
        return  # an agent's keypad code (pause, resume), not a customer's call
    acd = (
        transfer_hook(_acd, call, _pipeline.bridge, _pipeline.speaker, _pipeline.recognizer)
        if _acd
        else None
    )
    line = CallIOLine(call, acd)
    session = _pipeline.session(line)
    try:
        result = await session.run()
    finally:
        end_call = getattr(_pipeline.bridge, "end_call", None)
        if end_call is not None:
            # the dialog service deletes the stored conversation; in a task of its own, as
            # the line cancels this handler shortly after the call is over
            task = asyncio.create_task(_end_call(end_call, line.call_id))
            _ending.add(task)
            task.add_done_callback(_ending.discard)
    for turn in result.turns:  # what was heard is not logged: it may hold account numbers
        log.info(
            "call %s turn %d: intent=%s action=%s latency_ms=%s (endpoint %.0f, asr %.0f,"
            " dialog %.0f, tts %.0f)",
            line.call_id, turn.index, turn.intent, turn.action, turn.latency_ms,
            turn.endpoint_ms, turn.asr_ms, turn.dialog_ms, turn.tts_first_ms,
        )  # fmt: skip
    log.info(
        "call %s ended: %s (%d turns)%s",
        line.call_id,
        result.outcome.describe(),
        len(result.turns),
        f"; failure {result.failure}, caller handed over" if result.failure else "",
    )
    _pipeline.bridge.forget(line.call_id)


_ending: set[asyncio.Task[None]] = set()


async def _end_call(end_call: Any, call_id: str) -> None:
    try:
        await end_call(call_id)
    except VoicebotError as exc:
        log.warning("call %s: stored conversation not deleted: %s", call_id, exc)
