"""CallIO without a phone line: a fake control and a fake media clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest

from voicebot.telephony.callio import (
    FRAME_BYTES,
    CallDetails,
    CallIO,
    TransferResult,
    transfer_result,
)


class FakeControl:
    def __init__(self) -> None:
        self.transfers: list[tuple[str, dict[str, str]]] = []
        self.hangups: list[int] = []
        self.bridges: list[str] = []
        self.cancelled = 0
        self.io: CallIO | None = None

    def start_transfer(self, uri: str, headers: Mapping[str, str]) -> None:
        self.transfers.append((uri, dict(headers)))

    def hang_up(self, status: int) -> None:
        self.hangups.append(status)
        assert self.io is not None
        self.io.mark_closed("bot hung up")

    def start_bridge(self, uri: str, headers: Mapping[str, str]) -> None:
        self.bridges.append(uri)

    def cancel_bridge(self) -> None:
        self.cancelled += 1


async def clock(io: CallIO, frames: int, out: list[bytes | None]) -> None:
    """The media thread's part: one frame out every 20 ms (fast-forwarded to 1 ms)."""
    for _ in range(frames):
        out.append(io.next_out_frame())
        await asyncio.sleep(0.001)


def make() -> tuple[CallIO, FakeControl]:
    control = FakeControl()
    io = CallIO(CallDetails(call_id="c1"), control, transfer_timeout_s=0.2)
    control.io = io
    return io, control


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_play_streams_frames_and_pads_the_last() -> None:
    async def main() -> None:
        io, _ = make()
        out: list[bytes | None] = []
        media = asyncio.create_task(clock(io, 200, out))
        result = await io.play(b"\x01\x00" * 720)  # 720 samples: 4.5 frames -> 5
        media.cancel()
        assert result.completed and result.played_ms == 100
        frames = [f for f in out if f is not None]
        assert len(frames) == 5 and all(len(f) == FRAME_BYTES for f in frames)

    run(main())


def test_play_takes_chunks_of_any_size_from_an_async_stream() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for n in (7, 333, 1000, 1):
            yield b"\x02" * n
            await asyncio.sleep(0)

    async def main() -> None:
        io, _ = make()
        out: list[bytes | None] = []
        media = asyncio.create_task(clock(io, 300, out))
        result = await io.play(chunks())
        media.cancel()
        assert result.completed
        assert b"".join(f for f in out if f is not None)[:1341] == b"\x02" * 1341
        assert result.played_ms == 5 * 20  # 1341 bytes -> 5 frames (last padded)

    run(main())


def test_stop_playback_reports_what_was_played() -> None:
    async def main() -> None:
        io, _ = make()
        out: list[bytes | None] = []
        media = asyncio.create_task(clock(io, 1000, out))
        player = io.play(b"\0" * FRAME_BYTES * 500)  # 10 s
        await asyncio.sleep(0.05)
        played = io.stop_playback()
        result = await player
        media.cancel()
        assert not result.completed
        assert 0 < played == result.played_ms < 10_000
        # nothing more goes out after the stop
        sent = sum(1 for f in out if f is not None)
        assert sent * 20 == played
        assert not io.playing

    run(main())


def test_stop_before_a_play_begins_cancels_it() -> None:
    async def main() -> None:
        io, _ = make()
        first = io.play(b"\0" * FRAME_BYTES * 50)
        second = io.play(b"\0" * FRAME_BYTES * 50)  # waits for the first
        io.stop_playback()  # barge-in before either began
        assert (await first).played_ms == 0 and not (await second).completed
        out: list[bytes | None] = []
        media = asyncio.create_task(clock(io, 100, out))
        assert (await io.play(b"\0" * FRAME_BYTES * 2)).completed  # a later play is fine
        media.cancel()

    run(main())


def test_caller_audio_queue_is_bounded_and_ends_with_none() -> None:
    async def main() -> None:
        io, _ = make()
        for _ in range(1600):
            io.feed_audio(b"\0" * FRAME_BYTES)
        assert io.frames_in == 1600 and io.frames_dropped == 100
        io.mark_closed("caller hung up")
        items = []
        while (frame := await io.audio.get()) is not None:
            items.append(frame)
        assert len(items) == 1500 and io.closed.is_set()
        assert io.close_reason == "caller hung up"
        assert (await io.play(b"\0" * 640)).played_ms == 0

    run(main())


def test_dtmf_events() -> None:
    async def main() -> None:
        io, _ = make()
        io.feed_dtmf("5", "sip-info", 160)
        d = await io.dtmf.get()
        assert (d.digit, d.method, d.duration_ms) == ("5", "sip-info", 160)

    run(main())


def test_transfer_result_and_timeout() -> None:
    async def main() -> None:
        io, control = make()
        task = asyncio.create_task(io.transfer("sip:billing@pbx", {"X-Voicebot-Intent": "bill"}))
        await asyncio.sleep(0.01)
        assert control.transfers == [("sip:billing@pbx", {"X-Voicebot-Intent": "bill"})]
        io.transfer_finished(TransferResult.BUSY)
        assert await task is TransferResult.BUSY
        # no final NOTIFY within transfer_timeout_s: no answer
        assert await io.transfer("sip:x@y") is TransferResult.NO_ANSWER
        await io.hangup()
        assert control.hangups == [200]
        assert await io.transfer("sip:x@y") is TransferResult.FAILED

    run(main())


def test_refused_refer_falls_back_to_bridge() -> None:
    async def main() -> None:
        io, control = make()
        task = asyncio.create_task(io.transfer("sip:agent@pbx", {"X-Voicebot-Reason": "r"}))
        await asyncio.sleep(0.01)
        io.transfer_finished(TransferResult.NOT_SUPPORTED)  # REFER answered 405
        await asyncio.sleep(0.01)
        assert control.bridges == ["sip:agent@pbx"] and io.transfer_mode == "bridge"
        io.transfer_finished(TransferResult.ACCEPTED)
        assert await task is TransferResult.ACCEPTED
        # a bridge target that never answers is cancelled at the timeout
        assert await io.bridge("sip:agent@pbx") is TransferResult.NO_ANSWER
        assert control.cancelled == 1
        # without the fallback, the refusal is the answer
        task = asyncio.create_task(io.transfer("sip:x@y", bridge_if_refused=False))
        await asyncio.sleep(0.01)
        io.transfer_finished(TransferResult.NOT_SUPPORTED)
        assert await task is TransferResult.NOT_SUPPORTED

    run(main())


@pytest.mark.parametrize(
    ("status", "refer", "expected"),
    [
        (200, False, TransferResult.ACCEPTED),
        (486, False, TransferResult.BUSY),
        (600, False, TransferResult.BUSY),
        (480, False, TransferResult.NO_ANSWER),
        (408, False, TransferResult.NO_ANSWER),
        (487, False, TransferResult.NO_ANSWER),
        (603, False, TransferResult.REJECTED),
        (404, False, TransferResult.REJECTED),
        (405, True, TransferResult.NOT_SUPPORTED),
        (501, True, TransferResult.NOT_SUPPORTED),
    ],
)
def test_transfer_status_mapping(status: int, refer: bool, expected: TransferResult) -> None:
    assert transfer_result(status, refer_response=refer) is expected


def test_a_flood_of_digits_is_bounded_and_counted() -> None:
    """A caller sending thousands of keys (RTP events or SIP INFOs) while the handler is
    busy: the queue keeps DTMF_QUEUE_DIGITS, the rest are dropped and counted."""
    from voicebot.telephony.callio import DTMF_QUEUE_DIGITS

    async def main() -> None:
        io, _ = make()
        for i in range(5000):
            io.feed_dtmf(str(i % 10), "sip-info", 100)
        assert io.dtmf.qsize() == DTMF_QUEUE_DIGITS == 64
        assert io.dtmf_dropped == 5000 - DTMF_QUEUE_DIGITS
        first = await io.dtmf.get()
        assert first.digit == "0"  # the oldest are kept, in order
        io.feed_dtmf("#", "rfc4733", 100)  # room again: taken
        assert io.dtmf.qsize() == DTMF_QUEUE_DIGITS
        io.mark_closed("caller hung up")  # closing with a full queue does not raise

    run(main())
