"""A test call handler for the agent-ringing tests: rings ``$VOICEBOT_TEST_AGENT_URI`` with
:meth:`CallIO.ring_agent`, whispering the PCM in ``$VOICEBOT_TEST_WHISPER`` (8 kHz int16) to
the agent, and writes ``{result, ring_s}`` to ``$VOICEBOT_TEST_RESULTS/<caller id>.json``.
The caller hears silence meanwhile; after ``answered`` the handler waits for the call's end."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from voicebot.telephony.callio import CallIO


async def handle_call(call: CallIO) -> None:
    whisper = Path(os.environ["VOICEBOT_TEST_WHISPER"]).read_bytes()
    out = Path(os.environ["VOICEBOT_TEST_RESULTS"])
    t0 = time.monotonic()
    result = await call.ring_agent(
        os.environ["VOICEBOT_TEST_AGENT_URI"] % call.details.caller_id,
        {"X-Voicebot-Department": "billing"},
        whisper,
        float(os.environ.get("VOICEBOT_TEST_RING_S", "8")),
    )
    ring_s = time.monotonic() - t0
    out.mkdir(parents=True, exist_ok=True)
    report = {"result": result, "ring_s": round(ring_s, 2), "bridged_s": 0.0}
    if result == "answered":
        await call.wait_closed()
        report["bridged_s"] = round(time.monotonic() - t0 - ring_s, 2)
    (out / f"{call.details.caller_id}.json").write_text(json.dumps(report))
