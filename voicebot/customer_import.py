"""``voicebot customers import``: customers from a CSV file into the customer store.

The file has a header row; columns (any order, names as below):

==================  ========  ===============================================
column              required  value
==================  ========  ===============================================
account_number      yes       8 digits
name                yes       the customer's name
pin                 yes       4 digits (stored only as a salted hash)
date_of_birth       yes       YYYY-MM-DD, in the past (stored only as a hash)
phone               no        caller ID to recognise (UK formats accepted)
balance_pence       no        integer pence owed (negative: in credit); 0
next_bill_date      no        YYYY-MM-DD
next_bill_pence     no        integer pence
==================  ========  ===============================================

The import is all or nothing: every row is checked first, and the first bad one is reported
as ``customers.csv row 7, column 'pin': ...`` (row 1 is the header) with nothing written;
then all rows go in one transaction. An account number (or phone number) already in the
file or in the store is an error, never an overwrite.
"""

from __future__ import annotations

import csv
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from voicebot.customers import CustomerStore, _hash, normalise_phone
from voicebot.errors import DataError, StoreError

REQUIRED = ("account_number", "name", "pin", "date_of_birth")
OPTIONAL = ("phone", "balance_pence", "next_bill_date", "next_bill_pence")


@dataclass(frozen=True)
class CustomerRow:
    """One checked row of the file (``line``: its row number, the header being 1)."""

    line: int
    account_number: str
    name: str
    pin: str
    date_of_birth: date
    phone: str | None
    balance_pence: int
    next_bill_date: date | None
    next_bill_pence: int | None


def _fail(path: Path, line: int, column: str, problem: str) -> DataError:
    return DataError(f"{path.name} row {line}, column '{column}': {problem}")


def _date(path: Path, line: int, column: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _fail(path, line, column, f"{text!r} is not a date (YYYY-MM-DD)") from None


def _int(path: Path, line: int, column: str, text: str) -> int:
    if not re.fullmatch(r"-?\d+", text):
        raise _fail(path, line, column, f"{text!r} is not a whole number of pence")
    return int(text)


def read_rows(path: Path, today: date | None = None) -> list[CustomerRow]:
    """Every row of ``path`` checked (see the module docstring); DataError on the first bad."""
    today = today or date.today()
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise DataError(
                    f"{path.name}: the header lacks column(s) {', '.join(missing)}",
                    hint=f"columns: {', '.join(REQUIRED + OPTIONAL)}",
                )
            unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
            if unknown:
                raise DataError(f"{path.name}: unknown column(s) {', '.join(unknown)}")
            raw_rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read customers file {path}: {exc}") from exc
    rows: list[CustomerRow] = []
    accounts: dict[str, int] = {}
    phones: dict[str, int] = {}
    for index, raw in enumerate(raw_rows, start=2):
        if None in raw:
            raise _fail(path, index, "-", "more values than columns")
        value = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        for column in REQUIRED:
            if not value.get(column):
                raise _fail(path, index, column, "missing")
        account = value["account_number"]
        if not re.fullmatch(r"\d{8}", account):
            raise _fail(path, index, "account_number", "must be 8 digits")
        if account in accounts:
            raise _fail(path, index, "account_number", f"duplicate of row {accounts[account]}")
        accounts[account] = index
        if not re.fullmatch(r"\d{4}", value["pin"]):
            raise _fail(path, index, "pin", "must be 4 digits")
        born = _date(path, index, "date_of_birth", value["date_of_birth"])
        if born >= today:
            raise _fail(path, index, "date_of_birth", "must be in the past")
        phone = normalise_phone(value["phone"]) if value.get("phone") else None
        if phone is not None:
            if not re.fullmatch(r"\+\d{7,15}", phone):
                raise _fail(path, index, "phone", f"{value['phone']!r} is not a phone number")
            if phone in phones:
                raise _fail(path, index, "phone", f"duplicate of row {phones[phone]}")
            phones[phone] = index
        rows.append(
            CustomerRow(
                line=index,
                account_number=account,
                name=" ".join(value["name"].split()),
                pin=value["pin"],
                date_of_birth=born,
                phone=phone,
                balance_pence=(
                    _int(path, index, "balance_pence", value["balance_pence"])
                    if value.get("balance_pence")
                    else 0
                ),
                next_bill_date=(
                    _date(path, index, "next_bill_date", value["next_bill_date"])
                    if value.get("next_bill_date")
                    else None
                ),
                next_bill_pence=(
                    _int(path, index, "next_bill_pence", value["next_bill_pence"])
                    if value.get("next_bill_pence")
                    else None
                ),
            )
        )
    if not rows:
        raise DataError(f"{path.name}: no customers in the file")
    return rows


def import_customers(store: CustomerStore, path: Path, today: date | None = None) -> int:
    """Add every customer of ``path`` to ``store`` in one transaction; returns how many.

    Raises DataError (naming row and column) for a bad row or an account or phone number
    already in the store; nothing is written then."""
    path = Path(path)
    rows = read_rows(path, today)
    try:
        conn = sqlite3.connect(store.path, timeout=5, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"customer store {store.path} cannot be opened: {exc}") from exc
    try:
        conn.execute("BEGIN IMMEDIATE")
        for row in rows:
            taken = conn.execute(
                "SELECT account_number, phone FROM customers"
                " WHERE account_number = ? OR (phone IS NOT NULL AND phone = ?)",
                (row.account_number, row.phone),
            ).fetchone()
            if taken is not None:
                column = "account_number" if taken[0] == row.account_number else "phone"
                raise _fail(path, row.line, column, "already in the customer store")
            salt = os.urandom(16)
            conn.execute(
                "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.account_number,
                    row.name,
                    row.phone,
                    salt,
                    _hash(salt, row.pin),
                    _hash(salt, row.date_of_birth.isoformat()),
                    row.balance_pence,
                    row.next_bill_date.isoformat() if row.next_bill_date else None,
                    row.next_bill_pence,
                ),
            )
        conn.execute("COMMIT")
    except BaseException as exc:
        conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"customer store {store.path} failed: {exc}") from exc
        raise
    finally:
        conn.close()
    return len(rows)
