"""A campaign file (YAML): what to call about, when, how fast, and how to retry.

Example (every key but ``name`` and ``dialog`` has a default)::

    name: csat-december
    dialog: survey_csat           # the Rasa dialog (intent that starts it) run on answer
    caller_id: "+441632960000"
    window:                        # calling hours, in each contact's own time zone
      days: mon-sat
      hours: "09:00-20:00"
    pacing:
      max_concurrent: 8            # calls at once
      max_rate_per_s: 1.0          # new calls per second
    retries:                       # per result: wait before the next try, and how many tries
      busy: {delay_s: 600, max: 3}
      no_answer: {delay_s: 3600, max: 2}
      failed: {delay_s: 900, max: 2}
    max_attempts: 4                # tries of one contact in all
    machine:                       # an answering machine answered
      action: message              # message (leave ``message``) or hangup
      message: "Hello, this is Brightline Energy and Telecom ..."
    opening: "Hello {name}, ..."    # the survey: see voicebot.center.campaigns.questions
    consent: "Do you have two minutes?"
    questions: [{id: satisfaction, type: scale_1_5, text: "..."}]

Every mistake is a :class:`~voicebot.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from voicebot.center.campaigns.questions import SurveyScript, parse_script
from voicebot.config import read_yaml
from voicebot.departments import Interval, _parse_days, _parse_ranges
from voicebot.errors import ConfigError

RetryKind = Literal["busy", "no_answer", "failed", "machine"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOP = {
    "name",
    "dialog",
    "caller_id",
    "window",
    "pacing",
    "retries",
    "max_attempts",
    "machine",
    "description",
    "opening",
    "consent",
    "questions",
}


@dataclass(frozen=True)
class Retry:
    """Retry rule for one kind of result: wait ``delay_s`` seconds, at most ``max`` retries."""

    delay_s: float
    max: int


@dataclass(frozen=True)
class CampaignSpec:
    """One campaign as written in its file.

    Attributes:
        name: identifier (letters, digits, ``_.-``).
        dialog: the Rasa intent that starts the survey dialog when a person answers.
        caller_id: the number shown to the called person.
        days / hours: calling window in each contact's time zone (weekday 0 = Monday ->
            intervals in minutes since midnight).
        max_concurrent: calls in progress at once.
        max_rate_per_s: new calls per second.
        retries: per result kind, the retry rule.
        max_attempts: tries of one contact in all.
        machine_action: ``message`` (leave ``machine_message``) or ``hangup``.
        survey: the opening, consent question and questions
            (:mod:`voicebot.center.campaigns.questions`).
    """

    name: str
    dialog: str
    caller_id: str = ""
    description: str = ""
    hours: dict[int, tuple[Interval, ...]] = field(default_factory=dict)
    max_concurrent: int = 4
    max_rate_per_s: float = 1.0
    retries: dict[str, Retry] = field(default_factory=dict)
    max_attempts: int = 4
    machine_action: Literal["message", "hangup"] = "hangup"
    machine_message: str = ""
    survey: SurveyScript = field(default_factory=SurveyScript)

    def in_window(self, when: datetime, timezone: str) -> bool:
        """Whether ``when`` (aware) falls inside the calling window in ``timezone``."""
        local = when.astimezone(ZoneInfo(timezone))
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.hours.get(local.weekday(), ()))

    def retry(self, kind: str) -> Retry:
        return self.retries.get(kind, Retry(0.0, 0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dialog": self.dialog,
            "caller_id": self.caller_id,
            "description": self.description,
            "hours": {str(k): [list(i) for i in v] for k, v in self.hours.items()},
            "max_concurrent": self.max_concurrent,
            "max_rate_per_s": self.max_rate_per_s,
            "retries": {k: [r.delay_s, r.max] for k, r in self.retries.items()},
            "max_attempts": self.max_attempts,
            "machine_action": self.machine_action,
            "machine_message": self.machine_message,
            "survey": self.survey.as_dict(),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CampaignSpec:
        """The inverse of :meth:`as_dict` (the store keeps campaigns this way)."""
        return cls(
            name=raw["name"],
            dialog=raw["dialog"],
            caller_id=raw.get("caller_id", ""),
            description=raw.get("description", ""),
            hours={int(k): tuple((a, b) for a, b in v) for k, v in raw["hours"].items()},
            max_concurrent=int(raw["max_concurrent"]),
            max_rate_per_s=float(raw["max_rate_per_s"]),
            retries={k: Retry(float(v[0]), int(v[1])) for k, v in raw["retries"].items()},
            max_attempts=int(raw["max_attempts"]),
            machine_action=raw["machine_action"],
            machine_message=raw.get("machine_message", ""),
            survey=SurveyScript.from_dict(raw.get("survey") or {}),
        )


def _number(
    raw: dict[str, Any], key: str, where: str, default: float, *, integer: bool, minimum: float
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}, key '{key}': must be a number, got {value!r}")
    if integer and int(value) != value:
        raise ConfigError(f"{where}, key '{key}': must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{where}, key '{key}': must be at least {minimum:g}, got {value!r}")
    return float(value)


def parse_campaign(raw: Any, path: Path) -> CampaignSpec:
    """Check a parsed campaign file (see the module docstring)."""
    where = f"campaign file {path}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping with at least 'name' and 'dialog'")
    unknown = set(raw) - _TOP
    if unknown:
        raise ConfigError(
            f"{where}: unknown key '{sorted(unknown)[0]}' (keys: {', '.join(sorted(_TOP))})"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}, key 'name': {name!r} is not a name (letters, digits, _.-)")
    dialog = raw.get("dialog")
    if not isinstance(dialog, str) or not re.match(r"^[a-z][a-z0-9_]*$", dialog):
        raise ConfigError(f"{where}, key 'dialog': must be the Rasa intent that starts the survey")
    window = raw.get("window") or {"days": "mon-fri", "hours": "09:00-20:00"}
    if not isinstance(window, dict) or set(window) - {"days", "hours"}:
        raise ConfigError(f"{where}, key 'window': must have 'days' and 'hours'")
    wwhere = f"{where}, key 'window'"
    intervals = _parse_ranges(window.get("hours", "09:00-20:00"), wwhere)
    hours = {day: intervals for day in _parse_days(str(window.get("days", "mon-fri")), wwhere)}
    pacing = raw.get("pacing") or {}
    if not isinstance(pacing, dict) or set(pacing) - {"max_concurrent", "max_rate_per_s"}:
        raise ConfigError(f"{where}, key 'pacing': keys are max_concurrent and max_rate_per_s")
    pwhere = f"{where}, key 'pacing'"
    concurrent = _number(pacing, "max_concurrent", pwhere, 4, integer=True, minimum=1)
    rate = _number(pacing, "max_rate_per_s", pwhere, 1.0, integer=False, minimum=0.01)
    retries_raw = raw.get("retries") or {
        "busy": {"delay_s": 600, "max": 2},
        "no_answer": {"delay_s": 3600, "max": 2},
        "failed": {"delay_s": 900, "max": 1},
    }
    if not isinstance(retries_raw, dict):
        raise ConfigError(f"{where}, key 'retries': must map busy/no_answer/failed/machine")
    retries: dict[str, Retry] = {}
    for kind, rule in retries_raw.items():
        rwhere = f"{where}, key 'retries.{kind}'"
        if kind not in ("busy", "no_answer", "failed", "machine"):
            raise ConfigError(f"{rwhere}: unknown result (busy, no_answer, failed, machine)")
        if not isinstance(rule, dict) or set(rule) - {"delay_s", "max"}:
            raise ConfigError(f"{rwhere}: must be {{delay_s: seconds, max: tries}}")
        retries[kind] = Retry(
            _number(rule, "delay_s", rwhere, 600, integer=False, minimum=0),
            int(_number(rule, "max", rwhere, 1, integer=True, minimum=0)),
        )
    attempts = _number(raw, "max_attempts", where, 4, integer=True, minimum=1)
    machine = raw.get("machine") or {"action": "hangup"}
    if not isinstance(machine, dict) or machine.get("action") not in ("message", "hangup"):
        raise ConfigError(f"{where}, key 'machine.action': must be 'message' or 'hangup'")
    message = str(machine.get("message") or "")
    if machine["action"] == "message" and not message.strip():
        raise ConfigError(f"{where}, key 'machine.message': needed when the action is 'message'")
    caller_id = raw.get("caller_id", "")
    if not isinstance(caller_id, str) or (
        caller_id and not re.match(r"^\+?[0-9]{3,16}$", caller_id)
    ):
        raise ConfigError(f"{where}, key 'caller_id': {caller_id!r} is not a phone number")
    return CampaignSpec(
        name=name,
        dialog=dialog,
        caller_id=caller_id,
        description=str(raw.get("description") or ""),
        hours=hours,
        max_concurrent=int(concurrent),
        max_rate_per_s=rate,
        retries=retries,
        max_attempts=int(attempts),
        machine_action=machine["action"],
        machine_message=message,
        survey=parse_script(raw, where),
    )


def load_campaign(path: Path | str) -> CampaignSpec:
    """Read and check a campaign file."""
    chosen = Path(path)
    return parse_campaign(read_yaml(chosen, "campaign file"), chosen)
