"""What one call leaves behind: a log line per caller turn and the call's result."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from voicebot.events import Outcome


@dataclass
class TurnLog:
    """One caller turn: heard, understood, answered, and stage times (ms)."""

    index: int
    start_s: float
    end_s: float
    heard: str
    asr_confidence: float
    source: str
    intent: str | None = None
    intent_confidence: float = 0.0
    bot: list[str] = field(default_factory=list)
    action: str = "reply"
    endpoint_ms: float = 0.0
    asr_ms: float = 0.0
    dialog_ms: float = 0.0
    tts_first_ms: float = 0.0
    latency_ms: float | None = None
    """End of caller speech to first bot audio sample: endpoint wait + ASR + dialog + TTS."""
    expect: str = "free"
    """What the bot waited for: ``free``, ``digits`` or ``yes_no``."""
    endpoint: str = "silence"
    """How the turn ended: ``silence``, ``complete`` (all expected digits heard at a
    pause), ``max_length``, ``keypad`` or ``other``."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CallResult:
    call_id: str
    outcome: Outcome
    turns: list[TurnLog]
    greeting: list[str]
    transfer: str | None = None
    errors: list[str] = field(default_factory=list)
    timeline: list[tuple[float, str, str]] = field(default_factory=list)
    """Everything said, in order: (line time s, ``caller``/``bot``, text); reprompts too."""
    failure: str | None = None
    """Code of the error that sent the call down the failure path (``dialog-failed``...)."""


def write_turn_log(path: Path, result: CallResult) -> None:
    """The per-turn JSONL log of a call (one line per caller turn, then the outcome)."""
    with open(path, "w", encoding="utf-8") as fh:
        for t in result.turns:
            fh.write(json.dumps(t.as_dict(), ensure_ascii=False) + "\n")
        fh.write(
            json.dumps(
                {
                    "outcome": asdict(result.outcome),
                    "transfer": result.transfer,
                    "errors": result.errors,
                    "failure": result.failure,
                },
                ensure_ascii=False,
            )
            + "\n"
        )
