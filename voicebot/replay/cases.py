"""Caller cases: a small YAML script of caller turns and what the call should come to.

A case file (``tests/audio/*.yml``) looks like::

    description: caller asks for opening hours, espeak-ng voice
    caller_id: "+441632960001"          # optional: the number the call comes from
    turns:
      - audio: hours_espeak/01.wav       # a recording (relative to the case file)
        text: what time are you open     # what was said (reference for word checks)
      - pause_s: 7                       # the caller says nothing for 7 s
      - dtmf: "12345678#"                # keypad digits
      - fsdd_digits: "4821"              # real human digit recordings (shared eval data)
        speaker: jackson
      - fsdd_digits: "472 91 183"        # read in groups (spaces), with pauses between them
        speaker: nicolas
        group_gap_s: 1.8                 # the pause between groups, s (default 1)
      - audio: more.wav
        barge_in_ms: 800                 # starts 800 ms into the bot's prompt
        noise_snr_db: 10                 # white noise mixed in at this SNR
    expect:
      heard: [[open], []]                # words each speech turn's transcript must hold
      intents: [ask_opening_hours]       # must all appear among the recognised intents
      outcome: resolved                  # resolved | routed | message | abandoned
      department: billing                # for routed/message
      reason: routed                     # hand-off reason

Audio is assembled at run time (fsdd digits are read from ``../shared/eval``, never copied),
as PCM16 mono at the line rate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.config import read_yaml
from voicebot.errors import AudioError, ConfigError, DataError

_EVAL = os.environ.get("VOICEBOT_EVAL_DIR") or Path(__file__).parents[3] / "shared" / "eval"
FSDD_DIR = Path(_EVAL) / "audio" / "fsdd"
"""FSDD recordings: ``$VOICEBOT_EVAL_DIR/audio/fsdd``, else ``../shared/eval/audio/fsdd``."""
OUTCOMES = ("resolved", "routed", "message", "abandoned")
CASE_SUFFIXES = (".yml", ".yaml")
"""Names of case files; ``voicebot call`` reads every other file as caller audio."""


@dataclass(frozen=True)
class CallerTurn:
    """One thing the caller does: speak (audio), stay silent, or press keys.

    Attributes:
        kind: ``audio`` | ``pause`` | ``dtmf``.
        audio: caller speech, PCM16 mono at the line rate (``audio`` turns).
        text: reference text of what was said ("" if unknown).
        pause_s: silence length for ``pause`` turns, s.
        digits: keys for ``dtmf`` turns.
        barge_in_ms: start this long after the bot's prompt starts (None: after it ends), ms.
        source: where the audio came from (file path or ``fsdd:<digits>:<speaker>``).
    """

    kind: str
    audio: np.ndarray | None = None
    text: str = ""
    pause_s: float = 0.0
    digits: str = ""
    barge_in_ms: float | None = None
    source: str = ""


@dataclass(frozen=True)
class Expectation:
    heard: tuple[tuple[str, ...], ...] = ()
    intents: tuple[str, ...] = ()
    outcome: str | None = None
    department: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class CallerCase:
    name: str
    path: Path
    description: str
    turns: tuple[CallerTurn, ...]
    expect: Expectation
    caller_id: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


def _mix_noise(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    signal = audio.astype(np.float64)
    power = float(np.mean(signal**2)) or 1.0
    noise = np.random.default_rng(seed).normal(
        0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(signal)
    )
    return np.clip(signal + noise, -32768, 32767).astype(np.int16)


def fsdd_digits(
    digits: str, speaker: str, rate: int, gap_ms: float = 120.0, group_gap_s: float = 1.0
) -> np.ndarray:
    """A digit string spoken by a real FSDD speaker: one take per digit, ``gap_ms`` of
    silence after each. Spaces split the string into groups read with ``group_gap_s`` of
    silence between them ("472 91 183": an account number read in groups); the takes are
    those of the same digits without the spaces."""
    from voicebot.audio.wavio import load_audio

    if not FSDD_DIR.is_dir():
        raise DataError(f"FSDD recordings not found at {FSDD_DIR} (the shared evaluation data)")
    groups = digits.split()
    if not groups or any(not g.isdigit() for g in groups):
        raise ConfigError(f"fsdd_digits takes digits (groups split by spaces), got {digits!r}")
    gap = np.zeros(int(rate * gap_ms / 1000), dtype=np.int16)
    pause = np.zeros(int(rate * group_gap_s), dtype=np.int16)
    parts: list[np.ndarray] = []
    i = 0
    for g, group in enumerate(groups):
        if g:
            parts[-1] = pause  # the pause between groups replaces the short gap
        for d in group:
            take = (i * 7 + int(d) * 3) % 50  # deterministic, varied takes
            path = FSDD_DIR / "recordings" / f"{d}_{speaker}_{take}.wav"
            parts += [load_audio(path, rate=rate).samples, gap]
            i += 1
    return np.concatenate(parts)


def _turn(raw: dict[str, Any], base: Path, rate: int, index: int, case: str) -> CallerTurn:
    from voicebot.audio.wavio import load_audio

    where = f"case {case}, turn {index + 1}"
    barge = raw.get("barge_in_ms")
    if "pause_s" in raw:
        return CallerTurn("pause", pause_s=float(raw["pause_s"]))
    if "dtmf" in raw:
        digits = str(raw["dtmf"])
        if not digits or any(c not in "0123456789*#ABCD" for c in digits):
            raise ConfigError(f"{where}: dtmf must be keypad characters, got {digits!r}")
        return CallerTurn("dtmf", digits=digits, barge_in_ms=barge)
    if "fsdd_digits" in raw:
        digits = str(raw["fsdd_digits"])
        speaker = str(raw.get("speaker", "jackson"))
        group_gap = float(raw.get("group_gap_s", 1.0))
        if not 0.0 <= group_gap <= 10.0:
            raise ConfigError(f"{where}: group_gap_s must be 0-10 s, got {group_gap}")
        audio = fsdd_digits(digits, speaker, rate, group_gap_s=group_gap)
        source = f"fsdd:{digits}:{speaker}"
        text = " ".join(digits.replace(" ", ""))
    elif "audio" in raw:
        path = (base / str(raw["audio"])).resolve()
        try:
            audio = load_audio(path, rate=rate).samples
        except AudioError as exc:
            raise AudioError(f"{where}: {exc.message}", hint=exc.hint) from exc
        source = str(path)
        text = str(raw.get("text", ""))
    else:
        raise ConfigError(f"{where}: a turn needs one of audio, fsdd_digits, dtmf, pause_s")
    if raw.get("noise_snr_db") is not None:
        audio = _mix_noise(audio, float(raw["noise_snr_db"]), seed=index + len(case))
    return CallerTurn(
        "audio",
        audio=audio,
        text=str(raw.get("text", text)),
        barge_in_ms=None if barge is None else float(barge),
        source=source,
    )


def load_case(path: Path, rate: int = 8000) -> CallerCase:
    """Load a case file (``.yml``/``.yaml``) or a bare recording: any other name is read as
    audio (one caller turn, no expectations), so a binary file is never parsed as YAML."""
    path = Path(path)
    if path.suffix.lower() not in CASE_SUFFIXES:
        from voicebot.audio.wavio import load_audio

        turn = CallerTurn("audio", audio=load_audio(path, rate=rate).samples, source=str(path))
        return CallerCase(path.stem, path, f"recording {path.name}", (turn,), Expectation())
    raw = read_yaml(path, "caller case")
    if not isinstance(raw, dict) or not isinstance(raw.get("turns"), list) or not raw["turns"]:
        raise ConfigError(f"caller case {path}: needs a non-empty 'turns' list")
    name = path.stem
    turns = tuple(
        _turn(t if isinstance(t, dict) else {}, path.parent, rate, i, name)
        for i, t in enumerate(raw["turns"])
    )
    exp = raw.get("expect") or {}
    if not isinstance(exp, dict):
        raise ConfigError(f"caller case {path}: 'expect' must be a mapping")
    outcome = exp.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise ConfigError(f"caller case {path}: outcome must be one of {', '.join(OUTCOMES)}")
    expect = Expectation(
        heard=tuple(tuple(str(w).lower() for w in (ws or [])) for ws in exp.get("heard", [])),
        intents=tuple(str(i) for i in exp.get("intents", [])),
        outcome=outcome,
        department=exp.get("department"),
        reason=exp.get("reason"),
    )
    caller_id = raw.get("caller_id")
    return CallerCase(
        name=name,
        path=path,
        description=str(raw.get("description", "")),
        turns=turns,
        expect=expect,
        caller_id=str(caller_id) if caller_id else None,
        tags=tuple(str(t) for t in raw.get("tags", [])),
    )


def find_cases(folder: Path) -> list[Path]:
    """Every case file under ``folder`` (``*.yml``), sorted by name."""
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise ConfigError(f"no such case folder: {folder}")
    return sorted(p for p in folder.rglob("*.yml") if not p.name.startswith("_"))
