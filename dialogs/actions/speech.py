"""Formatting amounts and dates the way they are said on the phone."""

from __future__ import annotations

from datetime import date

_ORDINAL_SUFFIX = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


def spoken_money(pence: int) -> str:
    """4250 -> "42 pounds 50"; 1200 -> "12 pounds"; 99 -> "99 pence"."""
    pounds, rest = divmod(abs(pence), 100)
    if pounds == 0:
        return f"{rest} pence"
    unit = "pound" if pounds == 1 else "pounds"
    return f"{pounds} {unit}" if rest == 0 else f"{pounds} {unit} {rest}"


def spoken_date(value: date) -> str:
    """date(2026, 12, 1) -> "Tuesday the 1st of December"."""
    suffix = _ORDINAL_SUFFIX.get(value.day, "th")
    return f"{value:%A} the {value.day}{suffix} of {value:%B}"
