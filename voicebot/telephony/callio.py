"""One phone call as the voice pipeline sees it: frames in, frames out, digits, hand-off.

Pure Python and asyncio, no pjsua2: the SIP line (:mod:`voicebot.telephony.line`) fills a
:class:`CallIO` from its media thread and carries out what the handler asks through a small
:class:`CallControl`; tests drive the same object with a fake control.

Audio is signed 16-bit little-endian PCM, mono, 8000 Hz, in frames of 20 ms (160 samples,
320 bytes) both ways. Times are seconds on :func:`time.monotonic` unless said otherwise::

    async def handler(call: CallIO) -> None:
        await call.play(prompt_pcm)                  # returns when played or stopped
        while (frame := await call.audio.get()) is not None:
            ...                                      # 20 ms of caller audio
        # None: the caller hung up (call.closed is set)

A handler may run as long as the call; when it returns, the line hangs up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
"""Samples per second of every frame, both ways."""
FRAME_MS = 20
"""Length of one frame in milliseconds."""
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
"""Samples in one frame (160)."""
FRAME_BYTES = FRAME_SAMPLES * 2
"""Bytes in one PCM16 frame (320)."""

AUDIO_QUEUE_FRAMES = 1500
"""Caller frames kept when the handler falls behind (30 s); older ones are dropped."""
DTMF_QUEUE_DIGITS = 64
"""Keypad digits kept when the handler falls behind; more are dropped (and counted): a
caller flooding RTP events or SIP INFOs cannot grow a call's memory."""
PLAY_AHEAD_FRAMES = 15
"""Bot frames queued ahead of the media clock (300 ms), against event-loop stalls; a
barge-in drops them at once, so they cost no extra talk-over."""
REFILL_FRAMES = 2
"""A play with a full queue looks again after this many frames (40 ms: 25 wake-ups a second
per speaking call instead of 100; the queue stays 260-300 ms ahead)."""


DtmfMethod = Literal["rfc4733", "sip-info"]
RingResult = Literal["answered", "missed", "refused", "failed"]
"""How :meth:`CallIO.ring_agent` ended (the agent board's offer results)."""


class TransferResult(StrEnum):
    """How a blind transfer (REFER) ended, from the NOTIFY the caller's side sent."""

    ACCEPTED = "accepted"  # the target answered (2xx); the bot's leg is ended
    BUSY = "busy"  # 486 / 600
    NO_ANSWER = "no_answer"  # 408 / 480 / 487, or no final answer within the timeout
    REJECTED = "rejected"  # 603 or another failure of the target
    NOT_SUPPORTED = "not_supported"  # the caller's side refused the REFER itself
    FAILED = "failed"  # the call was already gone, or the line could not send the REFER


def transfer_result(status: int, *, refer_response: bool = False) -> TransferResult:
    """Map a SIP status code to a transfer result.

    Args:
        status: final status of the REFER (``refer_response``) or the one in its NOTIFY.
        refer_response: the code answers the REFER itself rather than the new call.
    """
    if 200 <= status < 300:
        return TransferResult.ACCEPTED
    if refer_response:
        return TransferResult.NOT_SUPPORTED
    if status in (486, 600):
        return TransferResult.BUSY
    if status in (408, 480, 487):
        return TransferResult.NO_ANSWER
    return TransferResult.REJECTED


@dataclass(frozen=True)
class Dtmf:
    """One keypad digit the caller pressed.

    Attributes:
        digit: ``0``-``9``, ``*``, ``#`` or ``A``-``D``.
        method: ``rfc4733`` (telephone-event in RTP) or ``sip-info`` (INFO request).
        duration_ms: how long the key was held, in milliseconds (0 when unknown).
        at: seconds since the call was answered when the digit arrived.
    """

    digit: str
    method: DtmfMethod
    duration_ms: int = 0
    at: float = 0.0


@dataclass(frozen=True)
class CallDetails:
    """Who is calling and how, taken from the INVITE.

    Attributes:
        call_id: the internal call ID (:mod:`voicebot.callids`), made by the line: the name
            of the call's files, keys and records.
        caller_uri: URI of the From header (``sip:0612345678@example.net``).
        caller_id: the caller's number or user name (From user part), "" when anonymous.
        caller_name: display name of the From header, "" when absent.
        called_uri: the Request-URI (what was dialled).
        source: ``ip:port`` the INVITE came from (the real caller behind the proxy).
        headers: every INVITE header, name in lower case; repeated ones joined with ", ".
        answered_at: wall-clock time the call was answered (seconds since the epoch).
        sip_call_id: the SIP Call-ID as the caller sent it: data only, never a name (it may
            hold ``/``, ``..`` or any punctuation).
    """

    call_id: str
    caller_uri: str = ""
    caller_id: str = ""
    caller_name: str = ""
    called_uri: str = ""
    source: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    answered_at: float = 0.0
    sip_call_id: str = ""


@dataclass(frozen=True)
class PlayResult:
    """What one :meth:`CallIO.play` did.

    Attributes:
        played_ms: milliseconds of the bot's audio handed to the line (the caller heard it).
        completed: all audio was played; False after :meth:`CallIO.stop_playback` or a hang-up.
    """

    played_ms: int
    completed: bool


class CallControl(Protocol):
    """What the SIP line does for a :class:`CallIO`; called on the event loop thread."""

    def start_transfer(self, uri: str, headers: Mapping[str, str]) -> None:
        """Send a REFER to ``uri``; report with :meth:`CallIO.transfer_finished`."""

    def hang_up(self, status: int) -> None:
        """End the call (BYE, or ``status`` when not answered yet)."""

    def start_bridge(self, uri: str, headers: Mapping[str, str]) -> None:
        """Call ``uri`` from the bot and, once answered, join the two calls' audio;
        report with :meth:`CallIO.transfer_finished`."""

    def cancel_bridge(self) -> None:
        """Give up the call to the bridge target (CANCEL or BYE)."""

    def start_ring(self, uri: str, headers: Mapping[str, str]) -> None:
        """Call the agent ``uri``; when answered, give its leg a CallIO of its own
        (:attr:`CallIO.agent`) without joining the audio; report ACCEPTED or the failure
        with :meth:`CallIO.transfer_finished`."""

    def join_agent(self) -> bool:
        """Join the caller and the answered agent's leg; False when either is gone."""

    def drop_agent(self) -> None:
        """Hang up the agent's leg (CANCEL before the answer, BYE after)."""


TimeLimitHook = Callable[["CallIO"], Awaitable[None]]


class CallIO:
    """One call: caller audio and digits in, bot audio out, transfer and hang-up.

    Attributes:
        details: who called (see :class:`CallDetails`).
        audio: caller frames, 320 bytes each; ``None`` once the call is closed.
        dtmf: digits as :class:`Dtmf`, from RTP events and SIP INFO alike.
        closed: set when the call ended, whoever hung up.
        close_reason: why it ended (``caller hung up``, ``bot hung up``, ``time limit``...).
        on_time_limit: coroutine function the line runs (at most ``limit_notice_s``) when the
            maximum call length is reached, before it hangs up: e.g. to say goodbye.
        frames_in: caller frames received; ``frames_dropped``: dropped because the queue
            was full.
        dtmf_dropped: digits dropped because :attr:`dtmf` held ``DTMF_QUEUE_DIGITS``.
    """

    def __init__(
        self,
        details: CallDetails,
        control: CallControl,
        *,
        transfer_timeout_s: float = 30.0,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.details = details
        self.audio: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.dtmf: asyncio.Queue[Dtmf] = asyncio.Queue(maxsize=DTMF_QUEUE_DIGITS)
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.on_time_limit: TimeLimitHook | None = None
        self.frames_in = 0
        self.frames_dropped = 0
        self.dtmf_dropped = 0
        self._control = control
        self._loop = loop or asyncio.get_running_loop()
        self._transfer_timeout_s = transfer_timeout_s
        self._started = time.monotonic()
        # Bot audio: (generation, frame) pairs popped by the media thread (deque ops are atomic).
        self._out: collections.deque[tuple[int, bytes]] = collections.deque()
        self._gen = 0
        self._stops = 0  # stop_playback() calls so far
        self._played_frames = 0
        self._play_lock = asyncio.Lock()
        self._readers: list[asyncio.Future[None]] = []  # input_ready() futures not yet done
        self._transfer: asyncio.Future[TransferResult] | None = None
        self.transfer_mode: Literal["refer", "bridge"] | None = None
        self.agent: CallIO | None = None
        """The agent's leg while :meth:`ring_agent` whispers to it (audio to the agent only)."""
        self.agent_code = 0
        """SIP status of the last agent call that ended before it was answered."""

    # ------------------------------------------------------------------ handler side

    @property
    def elapsed_s(self) -> float:
        """Seconds since the call was answered."""
        return time.monotonic() - self._started

    @property
    def playing(self) -> bool:
        """Whether bot audio is waiting to go out."""
        return bool(self._out)

    def play(
        self, audio: bytes | Iterable[bytes] | AsyncIterable[bytes]
    ) -> asyncio.Task[PlayResult]:
        """Stream the bot's audio to the caller, frame by frame, at the line's pace.

        Args:
            audio: PCM16 mono 8 kHz, as one buffer or chunks of any length (a TTS stream);
                a last partial frame is padded with silence.

        Returns a task at once; ``await`` it for the :class:`PlayResult`, ready when
        everything was played, :meth:`stop_playback` was called, or the call closed. Plays do
        not overlap: a second ``play`` waits for the first. A ``stop_playback()`` stops every
        play asked for before it, even one that has not begun.
        """
        return self._loop.create_task(self._play(audio, self._stops))

    async def _play(
        self, audio: bytes | Iterable[bytes] | AsyncIterable[bytes], stops: int
    ) -> PlayResult:
        async with self._play_lock:
            if self.closed.is_set() or self._stops != stops:
                return PlayResult(0, False)
            self._gen += 1
            gen = self._gen
            self._played_frames = 0
            rest = b""
            async for chunk in _chunks(audio):
                rest += chunk
                while len(rest) >= FRAME_BYTES:
                    if not await self._queue_frame(gen, rest[:FRAME_BYTES]):
                        return PlayResult(self._played_frames * FRAME_MS, False)
                    rest = rest[FRAME_BYTES:]
            if rest and not await self._queue_frame(gen, rest.ljust(FRAME_BYTES, b"\0")):
                return PlayResult(self._played_frames * FRAME_MS, False)
            while self._out and self._gen == gen and not self.closed.is_set():
                await asyncio.sleep(FRAME_MS / 1000)
            done = self._gen == gen and not self.closed.is_set()
            return PlayResult(self._played_frames * FRAME_MS, done)

    async def _queue_frame(self, gen: int, frame: bytes) -> bool:
        while len(self._out) >= PLAY_AHEAD_FRAMES:
            if self._gen != gen or self.closed.is_set():
                return False
            await asyncio.sleep(REFILL_FRAMES * FRAME_MS / 1000)
        if self._gen != gen or self.closed.is_set():
            return False
        self._out.append((gen, frame))
        return True

    def stop_playback(self) -> int:
        """Stop the bot's audio now (barge-in) and every play asked for so far.

        Returns the milliseconds of the current (or last) play already played.
        """
        self._stops += 1
        self._gen += 1
        self._out.clear()
        return self._played_frames * FRAME_MS

    async def transfer(
        self,
        uri: str,
        headers: Mapping[str, str] | None = None,
        *,
        bridge_if_refused: bool = True,
    ) -> TransferResult:
        """Blind-transfer the caller to ``uri`` (REFER) and wait for the outcome.

        Args:
            uri: SIP URI of the department or agent.
            headers: context for the agent (``X-Voicebot-Intent`` ...); sent on the REFER and
                carried into the INVITE the caller's side sends to ``uri``. Values must be
                free of secrets (PINs, full account numbers).
            bridge_if_refused: when the caller's side refuses the REFER (NOT_SUPPORTED), call
                ``uri`` from the bot and join the two calls instead (:meth:`bridge`).

        On ACCEPTED the line ends the bot's leg (REFER) or hands the audio to the agent
        (bridge; :attr:`transfer_mode` says which); otherwise the call goes on with the bot.
        """
        self.transfer_mode = "refer"
        result = await self._outcome(lambda: self._control.start_transfer(uri, dict(headers or {})))
        if result is TransferResult.NOT_SUPPORTED and bridge_if_refused:
            return await self.bridge(uri, headers)
        return result

    async def bridge(self, uri: str, headers: Mapping[str, str] | None = None) -> TransferResult:
        """Bridged transfer: the bot calls ``uri`` (with ``headers`` on the INVITE) and, when
        it answers, the caller and the agent hear each other through the line; the bot's
        audio and :attr:`audio` stop. Uses a second call slot of this worker."""
        self.transfer_mode = "bridge"
        return await self._outcome(
            lambda: self._control.start_bridge(uri, dict(headers or {})),
            on_timeout=self._control.cancel_bridge,
        )

    async def ring_agent(
        self,
        uri: str,
        headers: Mapping[str, str] | None = None,
        whisper: bytes = b"",
        timeout_s: float = 15.0,
        *,
        refuse_key: str = "*",
    ) -> RingResult:
        """Ring an agent, whisper to them, then join them with the caller: see
        :func:`voicebot.telephony.agentring.ring_agent` (same arguments and results)."""
        from voicebot.telephony.agentring import ring_agent

        return await ring_agent(self, uri, headers, whisper, timeout_s, refuse_key=refuse_key)

    async def start_ring(
        self, uri: str, headers: Mapping[str, str], timeout_s: float
    ) -> TransferResult:
        """Call the agent ``uri`` (:meth:`CallControl.start_ring`) and wait until they
        answer (ACCEPTED, :attr:`agent` set), fail, or ``timeout_s`` passes (CANCEL)."""
        self.transfer_mode = "bridge"
        self.agent_code = 0
        return await self._outcome(
            lambda: self._control.start_ring(uri, dict(headers)),
            on_timeout=self._control.cancel_bridge,
            timeout_s=timeout_s,
        )

    def join_agent(self) -> bool:
        """Join the caller and the answered agent's leg; False when either is gone."""
        return self._control.join_agent()

    def drop_agent(self) -> None:
        """Hang up the agent's leg (CANCEL before the answer, BYE after)."""
        self._control.drop_agent()

    async def wait_closed(self) -> None:
        """Wait until the call ended (after :meth:`ring_agent`: the agent or caller hung up)."""
        await self.closed.wait()

    async def _outcome(
        self,
        start: Callable[[], None],
        on_timeout: Callable[[], None] | None = None,
        timeout_s: float | None = None,
    ) -> TransferResult:
        if self.closed.is_set():
            return TransferResult.FAILED
        if self._transfer is not None and not self._transfer.done():
            raise RuntimeError("a transfer is already in progress")
        self._transfer = self._loop.create_future()
        try:
            start()
        except Exception:  # noqa: BLE001 - the line reports its own error
            self._transfer = None
            return TransferResult.FAILED
        closed: asyncio.Future[bool] = asyncio.ensure_future(self.closed.wait())
        try:
            waiters: set[asyncio.Future[object]] = {self._transfer, closed}  # type: ignore[arg-type]
            done, _ = await asyncio.wait(
                waiters,
                timeout=self._transfer_timeout_s if timeout_s is None else timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            closed.cancel()
        if self._transfer in done:
            return self._transfer.result()
        if closed in done:
            return TransferResult.FAILED
        self._transfer.cancel()  # a late answer is ignored
        if on_timeout is not None:
            with contextlib.suppress(Exception):
                on_timeout()
        return TransferResult.NO_ANSWER

    async def hangup(self) -> None:
        """End the call and wait until it is closed."""
        if not self.closed.is_set():
            self._control.hang_up(200)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.closed.wait(), 5.0)

    # ------------------------------------------------------------------ line side

    def next_out_frame(self) -> bytes | None:
        """The next bot frame, or None for silence. Called from the media thread."""
        while True:
            try:
                gen, frame = self._out.popleft()
            except IndexError:
                return None
            if gen == self._gen:
                self._played_frames += 1
                return frame

    def input_ready(self) -> asyncio.Future[None]:
        """A future done once a caller frame or key is queued or the call closed (done at
        once if one is waiting now). Takes nothing from :attr:`audio` or :attr:`dtmf`: a
        reader waits on it instead of holding a ``get()`` task open for each queue (two
        tasks, an ``asyncio.wait`` and two more loop turns per 20 ms frame)."""
        fut: asyncio.Future[None] = self._loop.create_future()
        if self.closed.is_set() or not self.audio.empty() or not self.dtmf.empty():
            fut.set_result(None)
        else:
            self._readers.append(fut)
        return fut

    def _wake_readers(self) -> None:
        readers, self._readers = self._readers, []
        for fut in readers:
            if not fut.done():
                fut.set_result(None)

    def feed_audio(self, frame: bytes) -> None:
        """Queue one caller frame (on the loop thread)."""
        if self.closed.is_set():
            return
        self.frames_in += 1
        if self.audio.qsize() >= AUDIO_QUEUE_FRAMES:
            with contextlib.suppress(asyncio.QueueEmpty):
                self.audio.get_nowait()
            self.frames_dropped += 1
        self.audio.put_nowait(frame)
        if self._readers:
            self._wake_readers()

    def feed_dtmf(self, digit: str, method: DtmfMethod, duration_ms: int) -> None:
        """Queue one digit (on the loop thread); dropped (and counted) when the queue is full."""
        if self.closed.is_set():
            return
        try:
            self.dtmf.put_nowait(Dtmf(digit, method, duration_ms, round(self.elapsed_s, 3)))
            self._wake_readers()
        except asyncio.QueueFull:
            self.dtmf_dropped += 1
            if self.dtmf_dropped == 1:
                log.warning(
                    "call %s: more than %d keypad digits waiting; dropping the rest",
                    self.details.call_id,
                    DTMF_QUEUE_DIGITS,
                )

    def transfer_finished(self, result: TransferResult) -> None:
        """Report the outcome of the transfer in progress (on the loop thread)."""
        if self._transfer is not None and not self._transfer.done():
            self._transfer.set_result(result)

    def detach(self) -> None:
        """Forget the line (after the call ended); later requests do nothing."""
        self._control = _Detached()

    def mark_closed(self, reason: str) -> None:
        """The call is over: wake every waiter (on the loop thread)."""
        if self.closed.is_set():
            return
        self.close_reason = reason
        self._gen += 1
        self._out.clear()
        self.closed.set()
        self.audio.put_nowait(None)
        self._wake_readers()
        self.transfer_finished(TransferResult.FAILED)


class _Detached:
    def start_transfer(self, uri: str, headers: Mapping[str, str]) -> None:
        raise RuntimeError("the call has ended")

    def hang_up(self, status: int) -> None:
        pass

    def start_bridge(self, uri: str, headers: Mapping[str, str]) -> None:
        raise RuntimeError("the call has ended")

    def cancel_bridge(self) -> None:
        pass

    def start_ring(self, uri: str, headers: Mapping[str, str]) -> None:
        raise RuntimeError("the call has ended")

    def join_agent(self) -> bool:
        return False

    def drop_agent(self) -> None:
        pass


async def _chunks(audio: bytes | Iterable[bytes] | AsyncIterable[bytes]) -> AsyncIterable[bytes]:
    if isinstance(audio, (bytes, bytearray, memoryview)):
        yield bytes(audio)
    elif isinstance(audio, AsyncIterable):
        async for chunk in audio:
            yield chunk
    else:
        for chunk in audio:
            yield chunk


Handler = Callable[[CallIO], Awaitable[None]]
"""The per-call coroutine the line runs: ``async def handler(call: CallIO) -> None``."""
