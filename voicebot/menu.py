"""The keypad menu: single keys that stand for a department or a self-service request.

It lives in the department file (``menu:``), so it follows the departments::

    menu:
      "1": {label: billing, department: billing}
      "2": {label: a fault, intent: report_fault}

A caller the bot misunderstood hears it ("... or press 1 for billing, 2 for a fault"), and a
single key pressed at any point of a call (not while an account number or PIN is asked
for, where digits are data) is taken as a menu choice. Mistakes in the file are
:class:`~voicebot.errors.ConfigError` naming the file, the key and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicebot.errors import ConfigError

#: keys a menu entry may use (``#`` ends keypad input, so it cannot be an entry)
MENU_KEYS = frozenset("0123456789*")
#: intents a menu key may start: the dialog's self-service and routing requests
MENU_INTENTS = frozenset(
    {
        "ask_opening_hours",
        "ask_address",
        "ask_website",
        "ask_phone_number",
        "ask_departments",
        "check_outage",
        "check_balance",
        "check_order",
        "report_fault",
        "billing_question",
        "sales_inquiry",
        "move_house",
        "cancel_contract",
        "complain",
        "request_human",
        "help",
        "repeat",
    }
)
_FIELDS = {"label", "department", "intent"}
#: more choices than this are too many to say on a phone line
MAX_ENTRIES = 9


@dataclass(frozen=True)
class MenuEntry:
    """One key of the menu.

    Attributes:
        key: the keypad key, ``0``-``9`` or ``*``.
        label: what the key is for, spoken after "press 1 for" ("billing", "a fault").
        department: put the caller through to this department key, or
        intent: start this dialog request (``check_outage``...); exactly one of the two.
    """

    key: str
    label: str
    department: str | None = None
    intent: str | None = None


def parse_menu(raw: Any, departments: Iterable[str], path: Path) -> tuple[MenuEntry, ...]:
    """Check the ``menu`` section of department file ``path``; entries in file order."""
    where = f"department file {path}, field 'menu'"
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: must map keys ("1") to entries')
    if len(raw) > MAX_ENTRIES:
        raise ConfigError(f"{where}: {len(raw)} entries; at most {MAX_ENTRIES} fit a phone menu")
    known = set(departments)
    entries: list[MenuEntry] = []
    for raw_key, spec in raw.items():
        key = str(raw_key).strip()
        at = f"{where}, key '{key}'"
        if len(key) != 1 or key not in MENU_KEYS:
            raise ConfigError(f"{at}: a key must be one of 0-9 or *")
        if any(e.key == key for e in entries):
            raise ConfigError(f"{at}: the key is given twice")
        if not isinstance(spec, dict):
            raise ConfigError(f"{at}: must be a mapping with label and department or intent")
        unknown = set(spec) - _FIELDS
        if unknown:
            raise ConfigError(
                f"{at}: unknown field '{sorted(unknown)[0]}' (fields: {', '.join(sorted(_FIELDS))})"
            )
        label = spec.get("label")
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"{at}: missing field 'label' (what the key is for, spoken)")
        department, intent = spec.get("department"), spec.get("intent")
        if (department is None) == (intent is None):
            raise ConfigError(f"{at}: give either 'department' or 'intent', not both or neither")
        if department is not None and str(department) not in known:
            raise ConfigError(
                f"{at}, field 'department': unknown department '{department}' "
                f"(known: {', '.join(sorted(known))})"
            )
        if intent is not None and str(intent) not in MENU_INTENTS:
            raise ConfigError(
                f"{at}, field 'intent': '{intent}' is not a request the dialog can start "
                f"(one of: {', '.join(sorted(MENU_INTENTS))})"
            )
        entries.append(
            MenuEntry(
                key,
                label.strip(),
                str(department) if department is not None else None,
                str(intent) if intent is not None else None,
            )
        )
    return tuple(entries)


def menu_prompt(entries: Iterable[MenuEntry]) -> str:
    """The spoken menu: "press 1 for billing, 2 for a fault, or 0 for customer service"
    ("" for no menu)."""
    parts = [f"{'star' if e.key == '*' else e.key} for {e.label}" for e in entries]
    if not parts:
        return ""
    if len(parts) == 1:
        return f"press {parts[0]}"
    return f"press {', '.join(parts[:-1])}, or {parts[-1]}"
