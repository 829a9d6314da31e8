"""A test call handler for the department queue on a live call: every call is handed off to
``billing`` through the built-in ACD exactly as voicebot.callhandler does it
(:func:`voicebot.center.callqueue.transfer_hook` with the real Piper voice, agent board and
Kamailio), without the Rasa dialog before it: the dialog bridge is a stand-in that knows no
hand-off record, so the whisper is built from the SIP context headers, as for a real call
whose hand-off came from the dialog. Writes ``{transfer, closed}`` to
``$VOICEBOT_TEST_RESULTS/<caller id>.json``. An agent's keypad code (pause, resume) is served
first, as in voicebot.callhandler. With ``$VOICEBOT_TEST_LISTEN`` set, the real ASR listens to
the waiting caller (saying "message" works like the key)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from voicebot.center.callqueue import AcdLine, transfer_hook, voice
from voicebot.config import load_settings
from voicebot.departments import load_departments
from voicebot.telephony.callio import CallIO

HEADERS = {
    "X-Voicebot-Call-Id": "test",
    "X-Voicebot-Intent": "billing_question",
    "X-Voicebot-Reason": "requested",
    "X-Voicebot-Customer": "Alice Morgan",
    "X-Voicebot-Summary": "Says she was charged twice",
}
_state: dict[str, Any] = {}


class _NoRecords:
    """Stand-in for the dialog bridge: no hand-off record (whisper from the headers)."""

    def conversation(self, call_id: str) -> Any:
        return SimpleNamespace(handoff=None)


def prepare() -> None:
    from voicebot.tts import load_speaker

    settings = load_settings()
    departments = load_departments()
    _state["acd"] = AcdLine.load(settings, departments)
    _state["speaker"] = load_speaker(settings)
    if os.environ.get("VOICEBOT_TEST_LISTEN"):  # the waiting caller may say "message"
        from voicebot.asr import load_engine

        _state["recognizer"] = load_engine(settings)
    _state["uri"] = departments.get("billing").transfer_uri


async def handle_call(call: CallIO) -> None:
    if not _state:
        prepare()
    acd: AcdLine = _state["acd"]
    if await acd.feature_call(call, voice(_state["speaker"])):
        return  # an agent dialled a keypad code (pause, resume)
    hook = transfer_hook(acd, call, _NoRecords(), _state["speaker"], _state.get("recognizer"))
    result = await hook(_state["uri"], dict(HEADERS))
    out = Path(os.environ["VOICEBOT_TEST_RESULTS"])
    out.mkdir(parents=True, exist_ok=True)
    report = {"transfer": result, "closed": call.closed.is_set()}
    (out / f"{call.details.caller_id}.json").write_text(json.dumps(report))
