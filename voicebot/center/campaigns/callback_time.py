"""When to call back, from what the callee said ("tomorrow afternoon", "in two hours",
"at 6 pm", "on Monday morning"); pure, no I/O.

:func:`callback_time` gives an epoch time inside the campaign's calling window in the
contact's time zone: a time said outside the window moves to the window's next opening; when
no time was said (or it cannot be read) the default is one day later, moved into the window
the same way. Parts of the day: morning 10:00, afternoon 14:00, evening 18:00, tonight 19:00.
A bare hour from 1 to 7 ("at six") is taken as afternoon/evening (calls are made by day).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from voicebot.center.campaigns.spec import CampaignSpec
from voicebot.yes_no import tokens

DEFAULT_DELAY_S = 86400.0
_PARTS = {"morning": 10, "afternoon": 14, "evening": 18, "tonight": 19, "night": 19}
_SMALL = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "forty-five": 45,
    "couple": 2,
    "few": 3,
}
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _num(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return _SMALL.get(word)


def _relative_s(words: list[str]) -> float | None:
    """Seconds for "in two hours", "in half an hour", "in 30 minutes", "in an hour"."""
    joined = " ".join(words)
    if re.search(r"\bhalf an hour\b", joined):
        return 1800.0
    for i, w in enumerate(words):
        if w != "in" or i + 1 >= len(words):
            continue
        rest = [x for x in words[i + 1 : i + 4] if x not in ("a", "of")] or words[i + 1 : i + 3]
        if words[i + 1] in ("a", "an") and len(words) > i + 2 and words[i + 2].startswith("hour"):
            return 3600.0
        if not rest:
            continue
        n = _num(rest[0])
        unit = rest[1] if len(rest) > 1 else ""
        if n is not None and unit.startswith("hour"):
            return n * 3600.0
        if n is not None and unit.startswith(("minute", "min")):
            return n * 60.0
        if n is not None and unit.startswith("day"):
            return n * 86400.0
    return None


def _clock(words: list[str], text: str) -> tuple[int, int] | None:
    """(hour 0-23, minute) of "at 6 pm", "6:30", "half past six", "six o'clock"."""
    m = re.search(r"\b(\d{1,2})[:.](\d{2})\s*([ap])?\.?\s*m?\b", text.lower())
    if m:
        hour, minute = int(m.group(1)), int(m.group(2))
        return _meridiem(hour, m.group(3)), minute
    for i, w in enumerate(words):
        if w == "past" and 0 < i < len(words) - 1 and words[i - 1] in ("half", "quarter"):
            said = _num(words[i + 1])
            if said is not None and 1 <= said <= 12:
                after = words[i + 2] if i + 2 < len(words) else ""
                return _meridiem(said, after[:1] if after in ("am", "pm") else None), (
                    30 if words[i - 1] == "half" else 15
                )
    for i, w in enumerate(words):
        n = _num(w)
        if n is None or not 1 <= n <= 12 or w in ("a", "an", "couple", "few"):
            continue
        after = words[i + 1] if i + 1 < len(words) else ""
        before = words[i - 1] if i > 0 else ""
        if after in ("am", "pm", "o'clock", "oclock") or before in ("at", "around", "about"):
            if after in ("hours", "hour", "minutes", "days"):
                continue
            meridiem = after[:1] if after in ("am", "pm") else None
            return _meridiem(n, meridiem), 0
    return None


def _meridiem(hour: int, which: str | None) -> int:
    if which == "p" and hour < 12:
        return hour + 12
    if which == "a" and hour == 12:
        return 0
    if which is None and 1 <= hour <= 7:
        return hour + 12
    return hour


def parse_when(text: str, now: float, timezone: str) -> float | None:
    """The time the callee asked for (epoch s), or None when ``text`` names no time."""
    words = tokens(text.replace("p.m.", "pm").replace("a.m.", "am"))
    rel = _relative_s(words)
    if rel is not None:
        return now + rel
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now, UTC).astimezone(zone)
    clock = _clock(words, text)
    part = next((p for p in _PARTS if p in words), None)
    day_offset: int | None = None
    if "tomorrow" in words:
        day_offset = 1
    elif "today" in words or "tonight" in words or ("this" in words and part):
        day_offset = 0
    elif "week" in words and "next" in words:
        day_offset = 7
    else:
        for i, name in enumerate(_DAYS):
            if name in words:
                day_offset = (i - local.weekday()) % 7 or 7
                break
    if day_offset is None and clock is None and part is None:
        return None
    if clock is not None:
        hour, minute = clock
        if part in ("afternoon", "evening", "tonight", "night") and hour < 12:
            hour += 12
    elif part is not None:
        hour, minute = _PARTS[part], 0
    else:
        hour, minute = local.hour, local.minute  # "tomorrow", "on Monday": same time of day
    base = local.replace(hour=hour % 24, minute=minute, second=0, microsecond=0)
    when = base + timedelta(days=day_offset or 0)
    if day_offset is None and when.timestamp() <= now:
        when += timedelta(days=1)  # "at 6 pm" said after six: tomorrow
    return when.timestamp()


def callback_time(text: str, now: float, timezone: str, spec: CampaignSpec) -> float:
    """When to call back (epoch s): the time asked for, else ``now`` + 1 day, moved into the
    calling window of ``spec`` in ``timezone`` (see the module docstring)."""
    from voicebot.center.campaigns.store import next_window_start

    asked = parse_when(text, now, timezone)
    when = asked if asked is not None and asked > now else now + DEFAULT_DELAY_S
    return next_window_start(spec, when, timezone)
