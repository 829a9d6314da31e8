"""Running caller cases through the whole pipeline and checking what came out."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicebot.replay.cases import CallerCase
from voicebot.replay.simline import SimulatedLine
from voicebot.session import CallResult, write_turn_log

if TYPE_CHECKING:
    from voicebot.pipeline import Pipeline

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


@dataclass
class CaseResult:
    """A replayed case: what happened and which expectations failed."""

    name: str
    description: str
    passed: bool
    failures: list[str]
    outcome: dict[str, Any]
    heard: list[str]
    intents: list[str]
    latencies_ms: list[float]
    turns: list[dict[str, Any]]
    bot_said: list[str] = field(default_factory=list)
    transfer: str | None = None
    barge_ins: int = 0
    errors: list[str] = field(default_factory=list)
    bot_wav: str = ""
    expected_intents: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(case: CallerCase, result: CallResult) -> list[str]:
    """Expectations the call did not meet (empty: the case passed)."""
    failures: list[str] = []
    exp = case.expect
    speech_turns = [t for t in result.turns if t.source in ("speech", "mixed")]
    for i, expected in enumerate(exp.heard):
        if not expected:
            continue
        if i >= len(speech_turns):
            failures.append(f"heard[{i + 1}]: no speech turn (expected {' '.join(expected)})")
            continue
        missing = [w for w in expected if w not in words(speech_turns[i].heard)]
        if missing:
            failures.append(f"heard[{i + 1}]: '{speech_turns[i].heard}' lacks {', '.join(missing)}")
    intents = list(result.outcome.intents)
    for intent in exp.intents:
        if intent not in intents:
            failures.append(f"intent {intent} not recognised (got {', '.join(intents) or '-'})")
    out = result.outcome
    if exp.outcome and out.kind != exp.outcome:
        failures.append(f"outcome {out.describe()}, expected {exp.outcome}")
    if exp.department and out.department != exp.department:
        failures.append(f"department {out.department}, expected {exp.department}")
    if exp.reason and str(out.reason) != exp.reason:
        failures.append(f"reason {out.reason}, expected {exp.reason}")
    failures += [f"error {e}" for e in result.errors]
    return failures


async def run_case(
    pipeline: Pipeline, case: CallerCase, out_dir: Path | None = None
) -> tuple[CaseResult, SimulatedLine, CallResult]:
    """Replay ``case``; write its bot WAV, stereo WAV and turn log under ``out_dir``."""
    line = SimulatedLine(case, rate=pipeline.rate)
    session = pipeline.session(line)
    line.session_idle = session.idle
    result = await session.run()
    if pipeline.recorder is not None:
        pipeline.recorder.flush()  # the record is complete when the case returns
    pipeline.bridge.forget(line.call_id)
    bot_wav = ""
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        bot = out_dir / f"{case.name}.bot.wav"
        line.write_recordings(bot, out_dir / f"{case.name}.call.wav")
        write_turn_log(out_dir / f"{case.name}.turns.jsonl", result)
        bot_wav = str(bot)
    failures = check(case, result)
    said = [text for _, who, text in result.timeline if who == "bot"]
    return (
        CaseResult(
            name=case.name,
            description=case.description,
            passed=not failures,
            failures=failures,
            outcome={
                "kind": result.outcome.kind,
                "department": result.outcome.department,
                "reason": str(result.outcome.reason) if result.outcome.reason else None,
            },
            heard=[t.heard for t in result.turns],
            intents=[i for i in result.outcome.intents],
            latencies_ms=[t.latency_ms for t in result.turns if t.latency_ms is not None],
            turns=[t.as_dict() for t in result.turns],
            bot_said=said,
            transfer=result.transfer,
            barge_ins=len(line.barge_ins),
            errors=result.errors,
            bot_wav=bot_wav,
            expected_intents=list(case.expect.intents),
        ),
        line,
        result,
    )


def transcript_text(result: CallResult) -> str:
    """A readable transcript: everything said in order, caller turns with stage times."""
    turns = iter(result.turns)
    lines = []
    for at, who, text in result.timeline:
        if who == "bot":
            lines.append(f"{at:6.1f}s bot:    {text}")
            continue
        t = next(turns, None)
        detail = ""
        if t is not None:
            detail = f"  ({t.source}, conf {t.asr_confidence:.2f}"
            detail += f", intent {t.intent})" if t.intent else ")"
            if t.latency_ms is not None:
                detail += (
                    f" [{t.latency_ms:.0f} ms: endpoint {t.endpoint_ms:.0f}, asr {t.asr_ms:.0f},"
                    f" dialog {t.dialog_ms:.0f}, tts {t.tts_first_ms:.0f}]"
                )
        lines.append(f"{at:6.1f}s caller: {text}{detail}")
    lines.append(f"outcome: {result.outcome.describe()}")
    if result.transfer:
        lines.append(f"transfer: {result.transfer}")
    return "\n".join(lines)
