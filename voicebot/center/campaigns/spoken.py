"""Spoken survey callees for tests and benchmarks: caller turns synthesized in voices other
than the bot's (espeak-ng and flite, Debian packages), played over the simulated line.

A respondent is a list of steps: ``("say", text, voice)``, ``("keys", digits)`` or
``("pause", seconds)``; :func:`respondent_case` turns it into a
:class:`~voicebot.replay.cases.CallerCase` for :class:`~voicebot.replay.simline.SimulatedLine`.
Voices are ``espeak:<voice>`` (``espeak:en-us``, ``espeak:en-gb-scotland``) or
``flite:<voice>`` (``flite:slt``, ``flite:rms``, ``flite:awb``, ``flite:kal``). After the last
step the simulated callee waits for the bot and hangs up.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from voicebot.audio.wavio import load_audio
from voicebot.errors import AudioError
from voicebot.replay.cases import CallerCase, CallerTurn, Expectation

Step = tuple[str, ...]
VOICES = (
    "espeak:en-us",
    "flite:slt",
    "espeak:en-gb-x-rp",
    "flite:rms",
    "espeak:en-gb-scotland",
    "flite:awb",
    "flite:kal",
    "espeak:en-us+f3",
)


def synthesize(text: str, voice: str, rate: int = 8000) -> np.ndarray:
    """``text`` spoken by ``voice`` (see the module docstring) as int16 at ``rate`` Hz."""
    engine, _, name = voice.partition(":")
    with tempfile.TemporaryDirectory(prefix="voicebot-spoken-") as tmp:
        wav = Path(tmp) / "said.wav"
        if engine == "espeak":
            cmd = ["espeak-ng", "-v", name or "en-us", "-s", "150", "-w", str(wav), text]
        elif engine == "flite":
            cmd = ["flite", "-voice", name or "slt", "-t", text, "-o", str(wav)]
        else:
            raise AudioError(f"unknown voice {voice!r}: use espeak:<voice> or flite:<voice>")
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise AudioError(
                f"cannot synthesize with {voice}: {exc}",
                hint="scripts/bootstrap.sh installs espeak-ng and flite",
            ) from exc
        return np.asarray(load_audio(wav, rate=rate).samples, dtype=np.int16)


def respondent_case(name: str, steps: list[Step], rate: int = 8000) -> CallerCase:
    """A simulated callee who takes ``steps`` in turn (see the module docstring)."""
    turns: list[CallerTurn] = []
    for step in steps:
        kind = step[0]
        if kind == "say":
            text, voice = step[1], step[2]
            audio = synthesize(text, voice, rate)
            turns.append(CallerTurn("audio", audio=audio, text=text, source=voice))
        elif kind == "keys":
            turns.append(CallerTurn("dtmf", digits=step[1]))
        elif kind == "pause":
            turns.append(CallerTurn("pause", pause_s=float(step[1])))
        else:
            raise ValueError(f"unknown respondent step {step!r}")
    return CallerCase(name, Path(name), f"survey respondent {name}", tuple(turns), Expectation())
