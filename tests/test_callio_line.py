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
from voicebot.line import AudioIn, DtmfDigit
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
