"""The departments callers are handed to: name, level, SIP transfer address, opening hours.

One YAML file holds them all: ``voicebot/defaults/departments.yml``, or the file named by
``$VOICEBOT_DEPARTMENTS``. Every mistake in it (broken YAML, a missing field, hours such as
"25:00", a reference to an unknown department) is a :class:`~voicebot.errors.ConfigError`
whose message names the file, the department and the field::

    departments = load_departments()
    billing = departments.get("billing")
    if departments.is_open("billing", datetime.now(UTC)):
        transfer(billing.transfer_uri)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voicebot.config import read_yaml
from voicebot.errors import ConfigError
from voicebot.menu import MenuEntry, menu_prompt, parse_menu
from voicebot.paths import DEFAULTS_DIR

DEFAULT_FILE = DEFAULTS_DIR / "departments.yml"
ENV_VAR = "VOICEBOT_DEPARTMENTS"

#: Departments the dialog routes to; a department file must define all of them.
REQUIRED_KEYS = (
    "customer_service",
    "billing",
    "support_l2",
    "support_l3",
    "sales",
    "contracts",
    "complaints",
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_FIELDS = {"name", "level", "transfer_uri", "hours", "timezone", "escalates_to"}
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")

Interval = tuple[int, int]
"""Opening interval in minutes since midnight, [start, end); end may be 1440."""


@dataclass(frozen=True)
class Department:
    """One department a caller can be handed to.

    Attributes:
        key: identifier used by the dialog (``billing``, ``support_l2``...).
        name: spoken name ("billing", "the contracts team").
        level: support level, 1 (first line) to 3 (specialists).
        transfer_uri: SIP URI of the department's queue.
        timezone: IANA time zone the opening hours are given in.
        hours: weekday (0 = Monday) -> opening intervals in minutes since midnight.
        escalates_to: key of the department above this one, if any.
    """

    key: str
    name: str
    level: int
    transfer_uri: str
    timezone: str
    hours: dict[int, tuple[Interval, ...]] = field(default_factory=dict)
    escalates_to: str | None = None

    def is_open(self, now: datetime) -> bool:
        """Whether the department takes calls at ``now`` (naive means the department's zone)."""
        zone = ZoneInfo(self.timezone)
        local = now.replace(tzinfo=zone) if now.tzinfo is None else now.astimezone(zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.hours.get(local.weekday(), ()))

    def describe_hours(self) -> str:
        """Opening hours as one spoken sentence part.

        "Monday to Friday from 8 am to 8 pm, and Saturday from 9 am to 5 pm".
        """
        groups: list[tuple[int, int, tuple[Interval, ...]]] = []
        for day in range(7):
            ranges = self.hours.get(day, ())
            if not ranges:
                continue
            if groups and groups[-1][1] == day - 1 and groups[-1][2] == ranges:
                groups[-1] = (groups[-1][0], day, ranges)
            else:
                groups.append((day, day, ranges))
        if not groups:
            return "currently closed"
        parts = []
        for first, last, ranges in groups:
            if first == 0 and last == 6:
                days = "every day"
            elif first == last:
                days = DAY_NAMES[first]
            elif last == first + 1:
                days = f"{DAY_NAMES[first]} and {DAY_NAMES[last]}"
            else:
                days = f"{DAY_NAMES[first]} to {DAY_NAMES[last]}"
            times = " and ".join(_spoken_range(start, end) for start, end in ranges)
            parts.append(f"{days} {times}")
        if len(parts) == 1:
            return parts[0]
        return ", ".join(parts[:-1]) + ", and " + parts[-1]


@dataclass(frozen=True)
class Departments:
    """All departments of one config file."""

    path: Path
    departments: dict[str, Department]
    default: str = "customer_service"
    menu: tuple[MenuEntry, ...] = ()
    """The keypad menu (``menu:`` in the file, see :mod:`voicebot.menu`), in file order."""

    def get(self, key: str) -> Department:
        """The department ``key``; an unknown key is a ConfigError naming the known ones."""
        try:
            return self.departments[key]
        except KeyError:
            known = ", ".join(sorted(self.departments))
            raise ConfigError(
                f"department file {self.path}: no department '{key}' (known: {known})"
            ) from None

    def is_open(self, key: str, now: datetime) -> bool:
        """Whether department ``key`` is open at ``now``."""
        return self.get(key).is_open(now)

    def keys(self) -> list[str]:
        return list(self.departments)

    def menu_entry(self, key: str) -> MenuEntry | None:
        """The keypad menu entry for ``key``, or None when the key is not on the menu."""
        return next((e for e in self.menu if e.key == key), None)

    def menu_prompt(self) -> str:
        """The menu as spoken: "press 1 for billing, ..., or 0 for customer service"."""
        return menu_prompt(self.menu)


def _spoken_time(minutes: int) -> str:
    hour, minute = divmod(minutes, 60)
    if hour in (0, 24) and minute == 0:
        return "midnight"
    if hour == 12 and minute == 0:
        return "noon"
    suffix = "am" if hour < 12 else "pm"
    hour12 = hour % 12 or 12
    return f"{hour12} {suffix}" if minute == 0 else f"{hour12}:{minute:02d} {suffix}"


def _spoken_range(start: int, end: int) -> str:
    if start == 0 and end == 24 * 60:
        return "around the clock"
    return f"from {_spoken_time(start)} to {_spoken_time(end)}"


def _parse_days(spec: str, where: str) -> list[int]:
    spec = spec.strip().lower()
    if spec in ("daily", "every day", "mon-sun"):
        return list(range(7))
    days: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            first, _, last = part.partition("-")
            if first.strip() not in DAYS or last.strip() not in DAYS:
                raise ConfigError(f"{where}: unknown day range '{part}' (days: {' '.join(DAYS)})")
            a, b = DAYS.index(first.strip()), DAYS.index(last.strip())
            if a > b:
                raise ConfigError(f"{where}: day range '{part}' runs backwards")
            days.extend(range(a, b + 1))
        elif part in DAYS:
            days.append(DAYS.index(part))
        else:
            raise ConfigError(f"{where}: unknown day '{part}' (days: {' '.join(DAYS)}, daily)")
    return days


def _parse_ranges(value: Any, where: str) -> tuple[Interval, ...]:
    if not isinstance(value, str):
        raise ConfigError(f'{where}: hours must be a string like "08:00-18:00", got {value!r}')
    if value.strip().lower() == "closed":
        return ()
    intervals: list[Interval] = []
    for part in value.split(","):
        match = _RANGE.match(part.strip())
        if not match:
            raise ConfigError(f"{where}: '{part.strip()}' is not a time range like 08:00-18:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        for hour, minute in ((h1, m1), (h2, m2)):
            if hour > 24 or minute > 59 or (hour == 24 and minute != 0):
                raise ConfigError(f"{where}: '{hour:02d}:{minute:02d}' is not a time of day")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 == 24:
            raise ConfigError(f"{where}: a range cannot start at 24:00")
        if end <= start:
            raise ConfigError(f"{where}: range '{part.strip()}' ends before it starts")
        intervals.append((start, end))
    return tuple(sorted(intervals))


def _parse_department(key: str, raw: Any, path: Path, default_tz: str | None) -> Department:
    where = f"department file {path}, department '{key}'"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping of fields")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise ConfigError(
            f"{where}: unknown field '{sorted(unknown)[0]}' (fields: {', '.join(sorted(_FIELDS))})"
        )
    for name in ("name", "level", "transfer_uri", "hours"):
        if raw.get(name) in (None, ""):
            raise ConfigError(f"{where}: missing field '{name}'")
    name = raw["name"]
    if not isinstance(name, str):
        raise ConfigError(f"{where}, field 'name': must be text")
    level = raw["level"]
    if isinstance(level, bool) or level not in (1, 2, 3):
        raise ConfigError(f"{where}, field 'level': must be 1, 2 or 3, got {level!r}")
    uri = raw["transfer_uri"]
    if not isinstance(uri, str) or not re.match(r"^(sips?|tel):\S+$", uri):
        raise ConfigError(
            f"{where}, field 'transfer_uri': {uri!r} is not a SIP URI like sip:queue@host:port"
        )
    tz = raw.get("timezone", default_tz)
    if not tz:
        raise ConfigError(f"{where}: missing field 'timezone' (and no top-level timezone)")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{where}, field 'timezone': unknown time zone '{tz}'") from exc
    hours_raw = raw["hours"]
    if not isinstance(hours_raw, dict):
        raise ConfigError(f"{where}, field 'hours': must map days to time ranges")
    hours: dict[int, tuple[Interval, ...]] = {}
    for days_spec, ranges in hours_raw.items():
        field_where = f"{where}, field 'hours' ({days_spec})"
        intervals = _parse_ranges(ranges, field_where)
        for day in _parse_days(str(days_spec), field_where):
            if day in hours:
                raise ConfigError(f"{field_where}: {DAY_NAMES[day]} is given twice")
            hours[day] = intervals
    escalates_to = raw.get("escalates_to")
    if escalates_to is not None and not isinstance(escalates_to, str):
        raise ConfigError(f"{where}, field 'escalates_to': must be a department key")
    return Department(
        key=key,
        name=name,
        level=int(level),
        transfer_uri=uri,
        timezone=str(tz),
        hours=hours,
        escalates_to=escalates_to,
    )


def load_departments(path: Path | str | None = None) -> Departments:
    """Read and check the department file (``path``, ``$VOICEBOT_DEPARTMENTS`` or the default)."""
    chosen = Path(path or os.environ.get(ENV_VAR) or DEFAULT_FILE)
    raw = read_yaml(chosen, "department file")
    if not isinstance(raw, dict) or not isinstance(raw.get("departments"), dict):
        raise ConfigError(f"department file {chosen}: needs a 'departments' mapping at the top")
    default_tz = raw.get("timezone")
    departments = {
        str(key): _parse_department(str(key), value, chosen, default_tz)
        for key, value in raw["departments"].items()
    }
    missing = [key for key in REQUIRED_KEYS if key not in departments]
    if missing:
        raise ConfigError(
            f"department file {chosen}: missing department '{missing[0]}' "
            f"(the dialog needs: {', '.join(REQUIRED_KEYS)})"
        )
    default = raw.get("default", "customer_service")
    if default not in departments:
        raise ConfigError(
            f"department file {chosen}, field 'default': unknown department '{default}'"
        )
    for dept in departments.values():
        if dept.escalates_to is not None and dept.escalates_to not in departments:
            raise ConfigError(
                f"department file {chosen}, department '{dept.key}', field 'escalates_to': "
                f"unknown department '{dept.escalates_to}'"
            )
    menu = parse_menu(raw.get("menu"), departments, chosen)
    return Departments(path=chosen, departments=departments, default=str(default), menu=menu)
