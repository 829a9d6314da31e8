"""CSV cells that a spreadsheet opens as text, never as a formula (CSV injection).

Caller-controlled text (a name from a contact list, a spoken comment, a caller ID) reaches
the CSV files that supervisors open in a spreadsheet: the dashboard's call list and a
campaign's export. A cell starting with ``=``, ``@``, ``+``, ``-``, a tab or a carriage
return would be run as a formula there, so it gets a leading ``'``; a signed number such as
a phone number ``+441632960001`` stays as it is.
"""

from __future__ import annotations

from typing import Any

_FORMULA_STARTS = ("=", "@", "\t", "\r", "+", "-")


def safe_cell(value: Any) -> Any:
    """``value``, with a ``'`` in front if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        if not (value[:1] in "+-" and value[1:].replace(" ", "").isdigit()):
            return "'" + value
    return value
