"""Recordings that answer an outbound call, for evaluating answering-machine detection.

None of it is the bot's own voice (Piper). Each item is 8 kHz int16 audio of what the callee
side sends after it answers, labelled ``person`` or ``machine``:

* person: a short greeting then silence: real people saying a digit (FSDD) or "yes"/"no"
  (Speech Commands), short real IVR prompts (< 2 s, Asterisk core sounds, a real human
  voice), and synthetic "Hello?"-style greetings;
* machine: a long uninterrupted greeting: Asterisk prompts longer than 3 s, two prompts
  joined by a short pause, synthetic voicemail greetings; most followed by a beep.

Two disjoint sets (:func:`build_set`): ``tuning`` (FSDD speaker jackson, even-hashed
Asterisk files, espeak-ng voices, 1000 Hz beeps) and ``report`` (the other FSDD speakers,
Speech Commands, odd-hashed Asterisk files, flite voices, 440/850/1400/1800 Hz beeps).
Thresholds in :mod:`voicebot.center.campaigns.amd` were set on ``tuning`` only.
"""

from __future__ import annotations

import csv
import hashlib
import random
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from voicebot.errors import AudioError

RATE = 8000
SetName = Literal["tuning", "report"]

PERSON_LINES = [
    "Hello?",
    "Hello, who is this?",
    "Yes?",
    "Hi, Anna speaking.",
    "Good morning.",
    "Hello, yes?",
    "Speaking.",
    "Yeah, hello.",
]
MACHINE_LINES = [
    "Hi, you have reached the Miller family. We cannot come to the phone right now,"
    " please leave a message after the tone.",
    "Hello, this is Tom. I am not available at the moment. Leave your name and number and"
    " I will call you back as soon as I can.",
    "The person you are calling is not available. Please record your message after the tone."
    " When you are finished, hang up.",
    "Thanks for calling Green Street dental practice. Our office is closed. Please leave a"
    " message and we will return your call.",
]


@dataclass(frozen=True)
class Item:
    """One answer of a call: ``audio`` (int16, 8 kHz), its ``label``, and where from."""

    name: str
    label: Literal["person", "machine"]
    audio: np.ndarray


def read_wav(path: Path) -> np.ndarray:
    """A mono 16-bit WAV at 8 kHz as int16 (AudioError otherwise)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise AudioError(f"{path}: needs 16-bit mono")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        rate = w.getframerate()
    if rate != RATE:
        idx = np.arange(0, data.size, rate / RATE)
        data = np.interp(idx, np.arange(data.size), data.astype(np.float64)).astype(np.int16)
    return data.astype(np.int16)


def beep(hz: float, seconds: float = 0.4, dbfs: float = -12.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    amp = 32768 * 10 ** (dbfs / 20)
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def _synth(engine: str, voice: str, text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.wav"
        if engine == "espeak-ng":
            cmd = ["espeak-ng", "-v", voice, "-w", str(out), text]
        else:
            cmd = ["flite", "-voice", voice, "-t", text, "-o", str(out)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        return read_wav(out)


def _hash_even(name: str) -> bool:
    return hashlib.sha1(name.encode()).digest()[0] % 2 == 0


def _noisy(audio: np.ndarray, rng: random.Random, dbfs: float = -60.0) -> np.ndarray:
    """Add line noise (white, ``dbfs``) and a little silence before the greeting."""
    lead = silence(rng.uniform(0.1, 0.6))
    x = np.concatenate([lead, audio]).astype(np.float64)
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(
        0, 32768 * 10 ** (dbfs / 20), x.size
    )
    return np.clip(x + noise, -32768, 32767).astype(np.int16)


def build_set(which: SetName, eval_dir: Path, *, seed: int = 7) -> list[Item]:
    """The ``tuning`` or ``report`` set (see the module docstring)."""
    rng = random.Random(f"{seed}:{which}")
    tuning = which == "tuning"
    audio_dir = eval_dir / "audio"
    manifest = audio_dir / "manifest.tsv"
    if not manifest.exists():
        raise AudioError(f"no evaluation audio at {audio_dir}")
    rows = list(csv.DictReader(manifest.open(), delimiter="\t"))
    items: list[Item] = []
    beeps = [1000.0] if tuning else [440.0, 850.0, 1400.0, 1800.0]
    # people: real short utterances
    fsdd = [r for r in rows if r["source"] == "fsdd"]
    speakers = {"jackson"} if tuning else {r["speaker"] for r in fsdd} - {"jackson"}
    picked = [r for r in fsdd if r["speaker"] in speakers]
    for r in rng.sample(picked, min(len(picked), 60)):
        items.append(Item(r["path"], "person", _noisy(read_wav(eval_dir / r["path"]), rng)))
    if not tuning:
        for name in ("yes_1000ms.wav", "no_1000ms.wav"):
            path = audio_dir / "speech_commands_tflm" / name
            items.append(Item(path.name, "person", _noisy(read_wav(path), rng)))
    ast = [
        r
        for r in rows
        if r["source"].startswith("asterisk")
        and "/silence/" not in r["path"]
        and _hash_even(r["path"]) == tuning
    ]
    short = [r for r in ast if float(r["duration_s"]) < 2.0]
    long = [r for r in ast if float(r["duration_s"]) > 3.0]
    for r in rng.sample(short, min(len(short), 40)):
        items.append(Item(r["path"], "person", _noisy(read_wav(eval_dir / r["path"]), rng)))
    # machines: long real prompts, with or without a beep; two prompts joined
    for i, r in enumerate(long):
        audio = read_wav(eval_dir / r["path"])
        if i % 3:
            audio = np.concatenate([audio, silence(rng.uniform(0.2, 0.8)), beep(rng.choice(beeps))])
        items.append(Item(r["path"], "machine", _noisy(audio, rng)))
    mids = [r for r in ast if 1.2 <= float(r["duration_s"]) <= 3.0]
    for _ in range(min(20, len(mids) // 2)):
        a, b = rng.sample(mids, 2)
        audio = np.concatenate(
            [
                read_wav(eval_dir / a["path"]),
                silence(rng.uniform(0.15, 0.4)),
                read_wav(eval_dir / b["path"]),
                silence(0.5),
                beep(rng.choice(beeps)),
            ]
        )
        items.append(Item(f"{a['path']}+{b['path']}", "machine", _noisy(audio, rng)))
    # hard cases: a short machine greeting right before its beep; a person who says two
    # short things with a pause between them
    for r in rng.sample(mids, min(len(mids), 10)):
        audio = np.concatenate(
            [
                read_wav(eval_dir / r["path"]),
                silence(rng.uniform(0.3, 0.6)),
                beep(rng.choice(beeps)),
            ]
        )
        items.append(Item(f"{r['path']}+beep", "machine", _noisy(audio, rng)))
    for _ in range(10):
        a, b = rng.sample(short, 2)
        audio = np.concatenate(
            [
                read_wav(eval_dir / a["path"]),
                silence(rng.uniform(0.4, 0.7)),
                read_wav(eval_dir / b["path"]),
            ]
        )
        items.append(Item(f"{a['path']}+{b['path']}", "person", _noisy(audio, rng)))
    # synthetic voices (another engine per set)
    if tuning:
        engine, voices = "espeak-ng", ["en-us", "en-gb", "en-gb-scotland", "en-us+f3"]
    else:
        engine, voices = "flite", ["slt", "awb", "rms", "kal"]
    if shutil.which(engine) is None:
        raise AudioError(f"{engine} is not installed (scripts/bootstrap.sh installs it)")
    for voice in voices:
        for text in rng.sample(PERSON_LINES, 4):
            items.append(
                Item(f"{engine}:{voice}:{text}", "person", _noisy(_synth(engine, voice, text), rng))
            )
        for i, text in enumerate(MACHINE_LINES):
            audio = _synth(engine, voice, text)
            if i % 2 == 0:
                audio = np.concatenate([audio, silence(0.6), beep(rng.choice(beeps))])
            items.append(Item(f"{engine}:{voice}:machine{i}", "machine", _noisy(audio, rng)))
    return items
