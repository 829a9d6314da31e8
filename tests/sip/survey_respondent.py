"""A listening survey respondent on a real SIP line: the ``sip.handler`` of a worker process
(``python -m voicebot.telephony.worker --handler tests.sip.survey_respondent:handle_call``)
that answers the bot's campaign calls the way a person would: it answers the question it is
asked, says it again when asked again, and answers a read-back truthfully.

It says its greeting at once. Then, for every bot turn, it waits for the bot to speak and
fall silent (``QUIET_S``: on a loaded machine the bot pauses between sentences), decodes the
bot's audio as it came over the line with Whisper (this process loads its own engine in
:func:`prepare`; a decode starts after ``EARLY_S`` of silence so the answer is not late),
and works out what was asked from the survey's own prompt texts
(:func:`tests.sip.listening.what_was_asked`):

* a question (or the consent question): it plays its recording for THAT question; asked
  again (a reprompt), its next take ("I said four"), as a person repeats;
* a read-back ("I heard seven. Is that right?") of its last answer: its "yes" recording when
  the value is what it meant, else its "no" recording;
* a question it has no answer for: hangs up when its script says ``hang_up`` (a callee who
  quits mid-survey), else stays silent; the goodbye: it waits for the bot to hang up.

``$RESPONDENTS`` is a JSON file: ``survey`` (the campaign's
:meth:`~voicebot.center.campaigns.questions.SurveyScript.as_dict`) and ``users``: per called
user (or ``*``), ``greeting`` (a WAV, 8 kHz mono), ``answers`` (question id or ``consent`` ->
``{"value": what is meant, "takes": [WAV, ...]}``: recordings in other voices than the
bot's), ``yes`` and ``no`` (WAVs) and ``hang_up``. Every INVITE answered is appended to
``$RESPONDENTS_LOG`` (one JSON line per call: ``user``, ``sip_call_id``, ``t``: Unix time); with
``$RESPONDENTS_TURNS`` set, every bot turn is appended there (what was heard, what it was
taken for, the reply, the decode time in s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import subprocess
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from tests.sip.listening import Asked, readback_is_true, what_was_asked
from voicebot.asr.base import AsrEngine
from voicebot.center.campaigns.questions import SurveyScript
from voicebot.center.campaigns.spoken import synthesize
from voicebot.telephony.callio import CallIO

QUIET_S = 2.5
"""The bot's silence that means it waits for an answer, s."""
EARLY_S = 1.0
"""The bot's silence after which the turn so far is decoded (used if it stays quiet), s."""
SPEECH_DBFS = -40.0
"""A 20 ms frame louder than this is the bot speaking, dBFS."""
MAX_DECODE_S = 25.0
"""Only the last this many seconds of a bot turn are decoded (Whisper's window is 30 s)."""
FRAME_S = 0.02

_engine: AsrEngine | None = None
_engine_lock = threading.Lock()


def prepare() -> None:
    """Load Whisper once per worker process, before the line takes calls."""
    engine()


def engine() -> AsrEngine:
    """This process's recogniser (the ``asr`` settings of ``$VOICEBOT_CONFIG``)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from voicebot.asr import load_engine
            from voicebot.config import load_settings

            _engine = load_engine(load_settings())
        return _engine


def _wav(path: str) -> bytes:
    with wave.open(path, "rb") as w:
        return w.readframes(w.getnframes())


def _level(frame: bytes) -> float:
    x = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    return 20 * math.log10(max(float(np.sqrt(np.mean(x * x))), 1e-3) / 32768)


def _decode(audio: bytes) -> tuple[str, float]:
    """What Whisper hears in ``audio`` (PCM16 8 kHz), and the decode's time in s."""
    started = time.monotonic()
    samples = np.frombuffer(audio[-int(MAX_DECODE_S * 16000) :], dtype="<i2")
    text = engine().transcribe(samples, "free", sample_rate=8000).text
    return text, time.monotonic() - started


async def bot_turn(call: CallIO, limit_s: float = 60.0) -> tuple[str, float] | None:
    """The bot's next turn as decoded (text, decode s) once it has spoken and been quiet
    for QUIET_S; ("", 0) when it said nothing for ``limit_s``; None when the call is over."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit_s
    frames: list[bytes] = []
    quiet = 0.0
    early: asyncio.Future[tuple[str, float]] | None = None
    while loop.time() < end:
        frame = await call.audio.get()
        if frame is None:
            return None
        loud = _level(frame) > SPEECH_DBFS
        if loud:
            quiet, early = 0.0, None  # the bot goes on: an early decode is stale
        elif frames:
            quiet += FRAME_S
        if not frames and not loud:
            continue
        frames.append(frame)
        if early is None and quiet >= EARLY_S:
            keep = len(frames) - int((quiet - 0.3) / FRAME_S)
            early = loop.run_in_executor(None, _decode, b"".join(frames[:keep]))
        if early is not None and quiet >= QUIET_S:
            return await early
    if call.closed.is_set():
        return None
    return await loop.run_in_executor(None, _decode, b"".join(frames)) if frames else ("", 0.0)


class Respondent:
    """One call's respondent: what it has said, and what it says next."""

    def __init__(self, survey: SurveyScript, script: dict[str, Any]) -> None:
        self.survey = survey
        self.script = script
        self.answers: dict[str, Any] = script.get("answers") or {}
        self.times_asked: dict[str, int] = {}
        self.last: str = ""
        self.carried = ""

    def hear(self, text: str) -> Asked:
        """What a bot turn heard as ``text`` asked. A turn it cannot place is kept and heard
        again with the next one: on a loaded machine the bot pauses longer than QUIET_S
        within a prompt ("From 0 to 10." ... "how likely are you to recommend ...")."""
        heard = f"{self.carried} {text}".strip()
        asked = what_was_asked(heard, self.survey)
        self.carried = heard[-400:] if asked.kind == "unknown" else ""
        return asked

    def reply(self, asked: Asked) -> str:
        """A WAV to play, ``hang_up``, ``wait`` (for the bot's hang-up) or "" (say nothing)."""
        if asked.kind == "goodbye":
            return "wait"
        if asked.kind == "readback":
            question = next((q for q in self.survey.questions if q.id == self.last), None)
            if question is None or self.last not in self.answers:
                return ""
            meant = str(self.answers[self.last]["value"])
            return self.script["yes" if readback_is_true(question, asked.value, meant) else "no"]
        if asked.kind != "question":
            return ""
        answer = self.answers.get(asked.question_id)
        if answer is None:
            return "hang_up" if self.script.get("hang_up") else ""
        n = self.times_asked.get(asked.question_id, 0)
        self.times_asked[asked.question_id] = n + 1
        self.last = asked.question_id
        takes = answer["takes"]
        return str(takes[min(n, len(takes) - 1)])


def _note(path: str | None, record: dict[str, Any]) -> None:
    if path:
        with open(path, "a") as log:
            log.write(json.dumps(record) + "\n")


async def handle_call(call: CallIO) -> None:
    data = json.loads(Path(os.environ["RESPONDENTS"]).read_text())
    survey = SurveyScript.from_dict(data["survey"])
    user = re.sub(r"^sips?:([^@;]+).*$", r"\1", call.details.called_uri)
    script = data["users"].get(user, data["users"].get("*"))
    _note(
        os.environ["RESPONDENTS_LOG"],
        {"user": user, "sip_call_id": call.details.sip_call_id, "t": round(time.time(), 3)},
    )
    if script is None:
        return
    turns = os.environ.get("RESPONDENTS_TURNS")
    respondent = Respondent(survey, script)
    await call.play(_wav(script["greeting"]))
    while True:
        heard = await bot_turn(call)
        if heard is None:
            return
        asked = respondent.hear(heard[0])
        reply = respondent.reply(asked)
        _note(
            turns,
            {
                "user": user,
                "heard": heard[0],
                "asked": asked.question_id or asked.kind,
                "value": asked.value,
                "reply": Path(reply).stem if reply.endswith(".wav") else reply,
                "decode_s": round(heard[1], 2),
            },
        )
        if reply == "hang_up":  # quits while the bot asks the next question
            return
        if reply == "wait":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.closed.wait(), 60.0)
            return
        if reply:
            await call.play(_wav(reply))


#: Two respondents who answer the whole CSAT survey (tests/data/survey_csat.yml) by voice, in
#: voices other than the bot's: name -> (voice, question -> (what is said, what is meant));
#: ``*``: free text, only its presence is checked. Over SIP (tests/sip/test_campaign_spoken.py)
#: and on the simulated line (tests/test_survey_call.py).
CSAT_SPEAKERS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "us": (
        "espeak:en-us",
        {"consent": ("yes sure", "yes"), "satisfaction": ("I would say four", "4"),
         "recommend": ("seven", "7"), "resolved": ("yes it was", "yes"),
         "channel": ("mostly on the web", "web"),
         "comment": ("the engineer was very friendly", "*")},
    ),
    "slt": (
        "flite:slt",
        {"consent": ("yes go ahead", "yes"), "satisfaction": ("two", "2"),
         "recommend": ("nine", "9"), "resolved": ("no", "no"), "channel": ("by phone", "phone"),
         "comment": ("nothing else thank you", "*")},
    ),
}  # fmt: skip


def respondent_script(
    folder: Path, user: str, voice: str, answers: dict[str, tuple[str, str]], hang_up: bool
) -> dict[str, object]:
    """A listening respondent's script (tests/sip/survey_respondent.py): per question a first
    take and, for when it is asked again, a second ("I said ..."), a yes and a no."""
    return {
        "greeting": said_wav(folder / f"{user}-hello.wav", "Hello?", voice),
        "answers": {
            q: {
                "value": value,
                "takes": [
                    said_wav(folder / f"{user}-{q}-1.wav", text, voice),
                    said_wav(folder / f"{user}-{q}-2.wav", f"I said {text}", voice),
                ],
            }
            for q, (text, value) in answers.items()
        },
        "yes": said_wav(folder / f"{user}-yes.wav", "yes that's right", voice),
        "no": said_wav(folder / f"{user}-no.wav", "no that's wrong", voice),
        "hang_up": hang_up,
    }


def said_wav(path: Path, text: str, voice: str) -> str:
    """``text`` said in ``voice`` (espeak-ng or flite) as an 8 kHz WAV at ``path``."""
    audio = synthesize(text, voice, 8000)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(audio.astype("<i2").tobytes())
    return str(path)


def start_line(
    folder: Path, survey: dict[str, Any], users: dict[str, Any], *, rtp_ports: int = 100
) -> tuple[subprocess.Popen[bytes], int]:
    """A worker process answering as these respondents on 127.0.0.1 (its SIP port); its log,
    the INVITEs and the turns are files in ``folder`` (``callee.log``, ``invites.jsonl``,
    ``turns.jsonl``). ``survey`` is the campaign's script as a dict, ``users`` as in the
    module docstring."""
    from tests.sip.conftest import PYTHON, ROOT, free_port

    (folder / "respondents.json").write_text(json.dumps({"survey": survey, "users": users}))
    port, rtp = free_port(), free_port(rtp_ports)
    (folder / "callee.yml").write_text(
        f"sip:\n  rtp_ports: {rtp_ports}\n  media_timeout_s: 120\n  log_level: 0\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VOICEBOT_CONFIG": str(folder / "callee.yml"),
        "RESPONDENTS": str(folder / "respondents.json"),
        "RESPONDENTS_LOG": str(folder / "invites.jsonl"),
        "RESPONDENTS_TURNS": str(folder / "turns.jsonl"),
    }
    ready = folder / "callee.ready"
    with open(folder / "callee.log", "wb") as log:
        proc = subprocess.Popen(
            [PYTHON, "-m", "voicebot.telephony.worker", "--sip-address", "127.0.0.1",
             "--sip-port", str(port), "--rtp-port", str(rtp), "--name", "respondents",
             "--handler", "tests.sip.survey_respondent:handle_call", "--ready-file", str(ready)],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
    end = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > end:
            stop_line(proc)
            log_text = (folder / "callee.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the respondent line did not start:\n{log_text}")
        time.sleep(0.1)
    return proc, port


def stop_line(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
