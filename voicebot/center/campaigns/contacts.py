"""A campaign's contact list (CSV): who to call, in which time zone and language.

Columns (a header row is required; names are case-insensitive):

* ``phone`` — an E.164 number (``+441632960001``; spaces, dots, dashes and brackets are
  ignored) or a SIP URI (``sip:user@host``);
* ``name``, ``timezone`` (IANA, e.g. ``Europe/London``), ``language`` (``en``, ``nl``...);
* any other column is a custom field the dialog may use (``last_repair``, ``product``...).

Every bad row is reported with its row number (the header is row 1) and column, all of them
at once, so a list of thousands is fixed in one pass::

    contacts.csv, row 7, column 'timezone': unknown time zone 'Europe/Londn'
    contacts.csv, row 9, column 'phone': +441632960001 is also row 3
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voicebot.errors import DataError

REQUIRED = ("phone", "name", "timezone", "language")
MAX_ROWS = 200_000
MAX_ERRORS_SHOWN = 25
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SIP = re.compile(r"^sips?:[A-Za-z0-9._~+-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Contact:
    """One person to call.

    Attributes:
        row: row number in the CSV (header = 1), for messages.
        phone: E.164 number or SIP URI (the dial string).
        name, timezone, language: as given (checked).
        fields: the other columns, by column name.
    """

    row: int
    phone: str
    name: str
    timezone: str
    language: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    problem: str

    def describe(self, path: Path | str) -> str:
        return f"{Path(path).name}, row {self.row}, column '{self.column}': {self.problem}"


def normalise_phone(value: str) -> str | None:
    """The dial string for ``value``: E.164 with separators removed, or a SIP URI; None if
    it is neither."""
    text = value.strip()
    if text.lower().startswith(("sip:", "sips:")):
        return text if _SIP.match(text) else None
    # "+44 (0)20 ..." is written for people: the trunk 0 in brackets is not dialled
    digits = re.sub(r"[\s().-]", "", text.replace("(0)", ""))
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    return digits if _E164.match(digits) else None


def read_contacts(
    path: Path | str, text: str | None = None
) -> tuple[list[Contact], list[RowError]]:
    """Parse a contact CSV: the good contacts, and an error for every bad row (a file-level
    problem — not CSV, no header, a missing column — is a :class:`DataError`)."""
    path = Path(path)
    if text is None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"contact list {path} cannot be read: {exc.strerror}") from exc
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"contact list {path} is not UTF-8 text (byte {exc.start})",
                hint="save it as CSV UTF-8",
            ) from exc
    if "\x00" in text:
        raise DataError(f"contact list {path} holds binary data: is it really a CSV file?")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"contact list {path} is empty") from None
    except csv.Error as exc:
        raise DataError(f"contact list {path}, row 1: {exc}") from exc
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DataError(
            f"contact list {path}: no column '{missing[0]}' in the header row "
            f"(needs {', '.join(REQUIRED)}; found {', '.join(columns) or 'nothing'})"
        )
    for col in columns:
        if col not in REQUIRED and not _FIELD.match(col):
            raise DataError(
                f"contact list {path}, row 1: column name {col!r} must be letters, digits, _"
            )
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise DataError(f"contact list {path}, row 1: column '{dup}' appears twice")
    contacts: list[Contact] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    zones: dict[str, bool] = {}
    row_no = 1
    try:
        for values in reader:
            row_no += 1
            if row_no > MAX_ROWS + 1:
                raise DataError(f"contact list {path}: more than {MAX_ROWS} rows; split it")
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(values) != len(columns):
                errors.append(
                    RowError(row_no, "*", f"{len(values)} values for {len(columns)} columns")
                )
                continue
            rec = {c: v.strip() for c, v in zip(columns, values, strict=True)}
            row_errors: list[RowError] = []
            phone = normalise_phone(rec["phone"])
            if phone is None:
                row_errors.append(
                    RowError(
                        row_no,
                        "phone",
                        f"{rec['phone']!r} is not a phone number (+countrycode...) or SIP URI",
                    )
                )
            elif phone in seen:
                row_errors.append(RowError(row_no, "phone", f"{phone} is also row {seen[phone]}"))
            if not rec["name"]:
                row_errors.append(RowError(row_no, "name", "empty"))
            tz = rec["timezone"]
            if tz not in zones:
                try:
                    ZoneInfo(tz)
                    zones[tz] = True
                except (ZoneInfoNotFoundError, ValueError):
                    zones[tz] = False
            if not zones[tz]:
                row_errors.append(RowError(row_no, "timezone", f"unknown time zone {tz!r}"))
            if not _LANGUAGE.match(rec["language"]):
                row_errors.append(
                    RowError(
                        row_no, "language", f"{rec['language']!r} is not a language code (en, nl)"
                    )
                )
            if row_errors:
                errors.extend(row_errors)
                continue
            assert phone is not None
            seen[phone] = row_no
            contacts.append(
                Contact(
                    row=row_no,
                    phone=phone,
                    name=rec["name"],
                    timezone=tz,
                    language=rec["language"],
                    fields={c: v for c, v in rec.items() if c not in REQUIRED},
                )
            )
    except csv.Error as exc:
        raise DataError(f"contact list {path}, row {row_no + 1}: {exc}") from exc
    return contacts, errors


def describe_errors(path: Path | str, errors: list[RowError]) -> str:
    """The first errors, one a line, and how many more."""
    lines = [e.describe(path) for e in errors[:MAX_ERRORS_SHOWN]]
    if len(errors) > MAX_ERRORS_SHOWN:
        lines.append(f"... and {len(errors) - MAX_ERRORS_SHOWN} more")
    return "\n".join(lines)
