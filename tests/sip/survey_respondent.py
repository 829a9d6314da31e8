"""A survey respondent on a real SIP line: the ``sip.handler`` of a worker process
(``python -m voicebot.telephony.worker --handler tests.sip.survey_respondent:handle_call``)
that answers the bot's campaign calls the way a person would.

It says its greeting at once, then waits for the bot to speak and fall silent (2.5 s: on a
loaded machine the bot pauses between sentences) before each answer, so it follows the
dialog's pace. Scripts come from
``$RESPONDENTS`` (a JSON file): per called user, ``greeting`` (a WAV), ``answers`` (a list of
``["say", WAV]``: recordings in another voice than the bot's) and ``hang_up`` (after the last
answer, hang up mid-survey instead of waiting for the bot's goodbye). Every INVITE answered
is appended to ``$RESPONDENTS_LOG`` (one JSON line per call) to count calls per contact.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import wave
from pathlib import Path

import numpy as np

from voicebot.telephony.callio import CallIO

QUIET_S = 2.5
"""The bot's silence that means it waits for an answer, s."""
SPEECH_DBFS = -40.0


def _wav(path: str) -> bytes:
    with wave.open(path, "rb") as w:
        return w.readframes(w.getnframes())


def _level(frame: bytes) -> float:
    x = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    return 20 * math.log10(max(float(np.sqrt(np.mean(x * x))), 1e-3) / 32768)


async def _bot_turn(call: CallIO, limit_s: float = 60.0) -> bool:
    """Wait until the bot has spoken and then been quiet for QUIET_S; False: call over."""
    spoke, quiet = False, 0.0
    loop = asyncio.get_running_loop()
    end = loop.time() + limit_s
    while loop.time() < end:
        frame = await call.audio.get()
        if frame is None:
            return False
        if _level(frame) > SPEECH_DBFS:
            spoke, quiet = True, 0.0
        else:
            quiet += 0.02
        if spoke and quiet >= QUIET_S:
            return True
    return not call.closed.is_set()


async def handle_call(call: CallIO) -> None:
    scripts = json.loads(Path(os.environ["RESPONDENTS"]).read_text())
    user = re.sub(r"^sips?:([^@;]+).*$", r"\1", call.details.called_uri)
    script = scripts.get(user, scripts.get("*"))
    with open(os.environ["RESPONDENTS_LOG"], "a") as log:
        log.write(json.dumps({"user": user, "sip_call_id": call.details.sip_call_id}) + "\n")
    if script is None:
        return
    await call.play(_wav(script["greeting"]))
    for kind, value in script["answers"]:
        if not await _bot_turn(call):
            return
        assert kind == "say", "a SIP respondent here only speaks (keys: SIPp callees)"
        await call.play(_wav(value))
    if script.get("hang_up"):  # hangs up while the bot asks the next question
        await _bot_turn(call)
        return
    await asyncio.wait_for(call.closed.wait(), 60.0)
