"""A demo call handler: plays a prompt, records the caller, notes digits, transfers on 9.

For trying the line without the voice pipeline (``voicebot serve --demo``) and for the SIP
tests. Settings come from the environment (``serve --demo-*`` sets them):

- ``VOICEBOT_DEMO_PROMPT``: WAV to play on answer (mono 16-bit; any rate, resampled to
  8 kHz); default: three short beeps.
- ``VOICEBOT_DEMO_RECORD_DIR``: where each call leaves ``<call>.wav`` (the caller's audio)
  and ``<call>.json`` (details, digits, frames, playback and transfer results), named by
  the internal call ID; the SIP Call-ID is in the JSON as ``sip_call_id``.
- ``VOICEBOT_DEMO_TRANSFER``: SIP URI the caller goes to on digit 9, with context headers.
- ``VOICEBOT_DEMO_HANGUP_DIGIT``: digit on which the bot hangs up (default ``#``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import struct
import wave
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.errors import AudioError
from voicebot.telephony.callio import FRAME_BYTES, SAMPLE_RATE, CallIO

log = logging.getLogger(__name__)


def beeps(count: int = 3, freq_hz: float = 880.0, beep_ms: int = 200, gap_ms: int = 150) -> bytes:
    """``count`` sine beeps of ``freq_hz`` as PCM16 8 kHz."""
    n = SAMPLE_RATE * beep_ms // 1000
    tone = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq_hz * i / SAMPLE_RATE)))
        for i in range(n)
    )
    gap = b"\0\0" * (SAMPLE_RATE * gap_ms // 1000)
    return (tone + gap) * count


def read_wav_8k(path: Path) -> bytes:
    """PCM16 mono 8 kHz samples of a WAV file (mono 16-bit at any rate). AudioError if not."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise AudioError(f"{path}: need mono 16-bit WAV")
            data, rate = w.readframes(w.getnframes()), w.getframerate()
    except (OSError, wave.Error) as exc:
        raise AudioError(f"cannot read prompt {path}: {exc}") from exc
    if rate != SAMPLE_RATE:  # linear interpolation: good enough for a demo prompt
        x = np.frombuffer(data, dtype="<i2").astype(np.float32)
        t = np.arange(0, len(x) * SAMPLE_RATE / rate) * rate / SAMPLE_RATE
        data = np.interp(t, np.arange(len(x)), x).astype("<i2").tobytes()
    return data


async def handle_call(call: CallIO) -> None:
    """The demo conversation (see the module docstring)."""
    prompt_path = os.environ.get("VOICEBOT_DEMO_PROMPT")
    prompt = read_wav_8k(Path(prompt_path)) if prompt_path else beeps()
    record_dir = os.environ.get("VOICEBOT_DEMO_RECORD_DIR")
    transfer_uri = os.environ.get("VOICEBOT_DEMO_TRANSFER", "")
    hangup_digit = os.environ.get("VOICEBOT_DEMO_HANGUP_DIGIT", "#")
    report: dict[str, Any] = {
        "call_id": call.details.call_id,
        "sip_call_id": call.details.sip_call_id,
        "caller_id": call.details.caller_id,
        "caller_uri": call.details.caller_uri,
        "called_uri": call.details.called_uri,
        "source": call.details.source,
        "worker_pid": os.getpid(),
        "digits": [],
        "plays": [],
        "transfer": None,
    }
    frames: list[bytes] = []

    async def speak(pcm: bytes) -> None:
        result = await call.play(pcm)
        report["plays"].append({"played_ms": result.played_ms, "completed": result.completed})

    async def on_limit(io: CallIO) -> None:
        await speak(beeps(1, 440.0, 400, 0))  # the "time is up" notice

    call.on_time_limit = on_limit

    async def take_audio() -> None:
        while (frame := await call.audio.get()) is not None:
            frames.append(frame)

    async def take_digits() -> None:
        while True:
            d = await call.dtmf.get()
            report["digits"].append({"digit": d.digit, "method": d.method, "at": d.at})
            if d.digit == "9" and transfer_uri:
                call.stop_playback()
                result = await call.transfer(
                    transfer_uri,
                    {
                        "X-Voicebot-Intent": "billing_question",
                        "X-Voicebot-Reason": "requested",
                        "X-Voicebot-Customer": "C-1042",
                        "X-Voicebot-Summary": "Caller asks about a double charge on the May bill",
                    },
                )
                report["transfer"] = result.value
                report["transfer_mode"] = call.transfer_mode
                if result.value != "accepted":
                    await speak(beeps(2, 330.0))
            elif d.digit == hangup_digit:
                await call.hangup()
                return

    player = asyncio.create_task(speak(prompt))
    audio = asyncio.create_task(take_audio())
    digits = asyncio.create_task(take_digits())
    try:
        await asyncio.wait({audio, digits}, return_when=asyncio.FIRST_COMPLETED)
        await call.closed.wait()
    finally:
        for task in (player, digits):
            task.cancel()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(audio, 1.0)
        report["frames"] = len(frames)
        report["frames_dropped"] = call.frames_dropped
        report["dtmf_dropped"] = call.dtmf_dropped
        report["close_reason"] = call.close_reason
        if record_dir:
            # named by the internal call ID only: the SIP Call-ID is the caller's text
            _save(Path(record_dir), call.details.call_id, frames, report)


def _save(folder: Path, stem: str, frames: list[bytes], report: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with wave.open(str(folder / f"{stem}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(b"".join(frames))
    assert all(len(f) == FRAME_BYTES for f in frames)
    tmp = folder / f"{stem}.json.tmp"
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(folder / f"{stem}.json")
