"""The human agents of the built-in ACD and how calls are offered to them.

One YAML file lists them: ``voicebot/defaults/agents.yml``, or the file named by
``$VOICEBOT_AGENTS``. Each agent has a name, the SIP user their phone registers as, the
departments they take calls for and, optionally, the highest support level they handle. The
``acd`` section holds the timings of the distribution (ring timeout, wrap-up, service level,
queue announcements). Every mistake in the file is a :class:`~voicebot.errors.ConfigError`
naming the file, the agent and the field::

    roster = load_agents()
    for agent in roster.for_department("billing"):
        print(agent.name, agent.sip_user)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from voicebot.config import read_yaml
from voicebot.errors import ConfigError
from voicebot.paths import DEFAULTS_DIR

DEFAULT_FILE = DEFAULTS_DIR / "agents.yml"
ENV_VAR = "VOICEBOT_AGENTS"

_AGENT_FIELDS = {"name", "sip_user", "departments", "level", "password"}
_SIP_USER = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
_KEY = re.compile(r"^[a-z0-9_][a-z0-9_.-]{0,63}$")
_FEATURE_CODE = re.compile(r"^[*#][0-9]{1,4}$")
_TEXT_KEYS = {"pause_code", "resume_code"}


@dataclass(frozen=True)
class AcdSettings:
    """Timings of the automatic call distribution.

    Attributes:
        ring_timeout_s: an agent who does not answer within this is marked missed, s.
        wrap_up_s: after a call the agent is in wrap-up this long before the next call, s.
        missed_pauses: a missed agent is paused until they make themselves available again
            (otherwise they go straight back to available, behind the other idle agents).
        service_level_s: the "answered within" threshold of the service level, s.
        service_level_target: share of calls to answer within ``service_level_s``, 0..1.
        announce_every_s: a waiting caller hears their position and wait this often, s.
        max_wait_s: after this long in the queue the caller is offered a message instead, s.
        default_handle_s: expected handle time before any call was measured, s.
        pause_code: what an agent dials from their registered phone to pause (``*41``).
        resume_code: what they dial to be available again (``*42``).
    """

    ring_timeout_s: float = 15.0
    wrap_up_s: float = 30.0
    missed_pauses: bool = True
    service_level_s: float = 20.0
    service_level_target: float = 0.8
    announce_every_s: float = 30.0
    max_wait_s: float = 180.0
    default_handle_s: float = 240.0
    pause_code: str = "*41"
    resume_code: str = "*42"


@dataclass(frozen=True)
class AgentSpec:
    """One agent as configured.

    Attributes:
        key: identifier (``alice``), used by the agent board and in records.
        name: full name, shown on screens.
        sip_user: the user part the agent's phone registers as.
        departments: department keys the agent takes calls for.
        level: highest support level handled (1..3).
        password: the digest password of their phone's REGISTER (a secret: never shown in
            a repr or a log); "" = this agent's phone cannot register while ``sip.agent_auth``
            is on.
    """

    key: str
    name: str
    sip_user: str
    departments: tuple[str, ...]
    level: int = 1
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class AgentRoster:
    """All agents of one file, and the ACD settings."""

    path: Path
    agents: dict[str, AgentSpec]
    acd: AcdSettings

    def get(self, key: str) -> AgentSpec:
        try:
            return self.agents[key]
        except KeyError:
            raise ConfigError(f"agent file {self.path}: no agent '{key}'") from None

    def for_department(self, department: str) -> list[AgentSpec]:
        """Agents who take calls for ``department``, in file order."""
        return [a for a in self.agents.values() if department in a.departments]

    def by_sip_user(self, user: str) -> AgentSpec | None:
        return next((a for a in self.agents.values() if a.sip_user == user), None)


def _parse_acd(raw: Any, path: Path) -> AcdSettings:
    where = f"agent file {path}, section 'acd'"
    if raw is None:
        return AcdSettings()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping")
    known = {f.name: f for f in fields(AcdSettings)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown key '{key}' (keys: {', '.join(sorted(known))})")
        if key in _TEXT_KEYS:
            if not isinstance(value, str) or not _FEATURE_CODE.match(value):
                raise ConfigError(
                    f"{where}, key '{key}': a keypad code is '*' or '#' and 1-4 digits"
                    f' (like "*41"), got {value!r}'
                )
            values[key] = value
            continue
        if key == "missed_pauses":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}, key '{key}': must be true or false")
            values[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where}, key '{key}': must be a number >= 0, got {value!r}")
        values[key] = float(value)
    settings = AcdSettings(**values)
    if not 0 < settings.service_level_target <= 1:
        raise ConfigError(f"{where}, key 'service_level_target': must be in (0, 1]")
    if settings.pause_code == settings.resume_code:
        raise ConfigError(f"{where}: pause_code and resume_code must differ")
    if settings.ring_timeout_s <= 0:
        raise ConfigError(f"{where}, key 'ring_timeout_s': must be above 0")
    return settings


def _parse_agent(key: str, raw: Any, path: Path, departments: set[str] | None) -> AgentSpec:
    where = f"agent file {path}, agent '{key}'"
    if not _KEY.match(key):
        raise ConfigError(f"{where}: a key is lower-case letters, digits, '_', '.', '-'")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping of fields")
    unknown = set(raw) - _AGENT_FIELDS
    if unknown:
        raise ConfigError(
            f"{where}: unknown field '{sorted(unknown)[0]}' "
            f"(fields: {', '.join(sorted(_AGENT_FIELDS))})"
        )
    for name in ("name", "sip_user", "departments"):
        if raw.get(name) in (None, "", []):
            raise ConfigError(f"{where}: missing field '{name}'")
    if not isinstance(raw["name"], str):
        raise ConfigError(f"{where}, field 'name': must be text")
    user = raw["sip_user"]
    if not isinstance(user, str) or not _SIP_USER.match(user):
        raise ConfigError(
            f"{where}, field 'sip_user': {user!r} is not a SIP user name (letters, digits, ._~-)"
        )
    depts = raw["departments"]
    if isinstance(depts, str):
        depts = [depts]
    if not isinstance(depts, list) or not all(isinstance(d, str) for d in depts):
        raise ConfigError(f"{where}, field 'departments': must be a list of department keys")
    if departments is not None:
        for dept in depts:
            if dept not in departments:
                raise ConfigError(
                    f"{where}, field 'departments': unknown department '{dept}' "
                    f"(known: {', '.join(sorted(departments))})"
                )
    level = raw.get("level", 1)
    if isinstance(level, bool) or level not in (1, 2, 3):
        raise ConfigError(f"{where}, field 'level': must be 1, 2 or 3, got {level!r}")
    password = raw.get("password", "")
    if not isinstance(password, str) or not all(" " <= c <= "~" for c in password):
        # the value itself is never echoed: it is a secret
        raise ConfigError(f"{where}, field 'password': must be printable ASCII text")
    if password and len(password) < 8:
        raise ConfigError(f"{where}, field 'password': must be at least 8 characters")
    return AgentSpec(key, raw["name"], user, tuple(depts), int(level), password)


def load_agents(
    path: Path | str | None = None, *, departments: set[str] | None = None
) -> AgentRoster:
    """Read and check the agent file (``path``, ``$VOICEBOT_AGENTS`` or the default).

    ``departments``: the known department keys; agents naming another are a ConfigError.
    """
    chosen = Path(path or os.environ.get(ENV_VAR) or DEFAULT_FILE)
    raw = read_yaml(chosen, "agent file")
    if not isinstance(raw, dict):
        raise ConfigError(f"agent file {chosen}: needs 'acd' and 'agents' mappings at the top")
    agents_raw = raw.get("agents") or {}
    if not isinstance(agents_raw, dict):
        raise ConfigError(f"agent file {chosen}: 'agents' must map agent keys to agents")
    unknown = set(raw) - {"acd", "agents"}
    if unknown:
        raise ConfigError(f"agent file {chosen}: unknown section '{sorted(unknown)[0]}'")
    agents = {str(k): _parse_agent(str(k), v, chosen, departments) for k, v in agents_raw.items()}
    users: dict[str, str] = {}
    for agent in agents.values():
        if agent.sip_user in users:
            raise ConfigError(
                f"agent file {chosen}, agent '{agent.key}', field 'sip_user': "
                f"'{agent.sip_user}' is also agent '{users[agent.sip_user]}'"
            )
        users[agent.sip_user] = agent.key
    return AgentRoster(chosen, agents, _parse_acd(raw.get("acd"), chosen))
