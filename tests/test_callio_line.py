"""The session's line over a SIP call hands the caller's keys on when a hand-off queues it.

While the session awaits a hand-off, the built-in ACD's queue reads the call's keys itself
(leave a message: a key). The session's input reader used to hold a ``dtmf.get()`` open
across that wait, so the first key the caller pressed in the queue went to the suspended
session and was lost. The call here is a stand-in with the two queues ``CallIOLine`` reads
(``audio``, ``dtmf``) and its details: no pjsua2 is needed to show the reading order; the
queue over real SIP is in tests/sip/test_queue_call.py.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from voicebot.callhandler import CallIOLine
from voicebot.line import AudioIn, DtmfDigit, HungUp
from voicebot.telephony.callio import Dtmf


def _call() -> SimpleNamespace:
    details = SimpleNamespace(call_id="c-test", sip_call_id="x", caller_id="100")
    return SimpleNamespace(audio=asyncio.Queue(), dtmf=asyncio.Queue(maxsize=64), details=details)


def test_a_key_pressed_in_the_queue_reaches_the_queue_not_the_waiting_session() -> None:
    async def run() -> tuple[str, list[object]]:
        call = _call()
        heard: list[object] = []

        async def queue_hook(uri: str, headers: dict[str, str]) -> str:
            call.dtmf.put_nowait(Dtmf("1", "rfc4733"))  # the caller presses 1 in the queue
            key = await asyncio.wait_for(call.dtmf.get(), timeout=2.0)
            return f"message:{key.digit}"

        line = CallIOLine(call, acd=queue_hook)  # type: ignore[arg-type]
        inputs = line.inputs()
        call.audio.put_nowait(b"\0\0" * 160)
        heard.append(await inputs.__anext__())  # the session read a frame, then hands off
        result = await line.transfer("sip:billing@127.0.0.1", {})
        call.dtmf.put_nowait(Dtmf("7", "rfc4733"))  # after the hand-off: the session again
        heard.append(await asyncio.wait_for(inputs.__anext__(), timeout=2.0))
        await inputs.aclose()
        return str(result), heard

    result, heard = asyncio.run(run())
    assert result == "message:1"
    assert isinstance(heard[0], AudioIn)
    assert isinstance(heard[1], DtmfDigit) and heard[1].digit == "7"


def test_a_reader_waiting_for_input_leaves_keys_and_frames_to_the_queue_during_a_hand_off() -> None:
    """The session's reader is waiting (no frame, no key queued) when the hand-off starts:
    the key and the frame fed to the real :class:`CallIO` meanwhile go to the queue's own
    reads; after the hand-off the session reads again, and a hang-up ends its inputs."""
    from voicebot.telephony.callio import CallDetails, CallIO

    class Control:  # no SIP line here: nothing of the call's control is used
        pass

    async def run() -> tuple[str, list[object], bytes]:
        call = CallIO(CallDetails(call_id="c-test"), Control())  # type: ignore[arg-type]
        heard: list[object] = []
        got: list[bytes] = []

        async def queue_hook(uri: str, headers: dict[str, str]) -> str:
            call.feed_dtmf("1", "rfc4733", 80)
            call.feed_audio(b"\1\0" * 160)
            key = await asyncio.wait_for(call.dtmf.get(), timeout=2.0)
            frame = await asyncio.wait_for(call.audio.get(), timeout=2.0)
            got.append(frame or b"")
            return f"message:{key.digit}"

        line = CallIOLine(call, acd=queue_hook)
        inputs = line.inputs()
        reading = asyncio.ensure_future(inputs.__anext__())
        await asyncio.sleep(0.05)
        assert not reading.done()  # waiting: nothing queued yet
        result = await line.transfer("sip:billing@127.0.0.1", {})
        call.feed_audio(b"\2\0" * 160)  # after the hand-off: the session again
        heard.append(await asyncio.wait_for(reading, timeout=2.0))
        call.feed_dtmf("7", "rfc4733", 80)
        heard.append(await asyncio.wait_for(inputs.__anext__(), timeout=2.0))
        call.mark_closed("caller hung up")
        heard.append(await asyncio.wait_for(inputs.__anext__(), timeout=2.0))
        return str(result), heard, got[0]

    result, heard, queued_frame = asyncio.run(run())
    assert result == "message:1"
    assert queued_frame == b"\1\0" * 160
    assert isinstance(heard[0], AudioIn) and int(heard[0].samples[0]) == 2
    assert isinstance(heard[1], DtmfDigit) and heard[1].digit == "7"
    assert isinstance(heard[2], HungUp)
