"""The customer store the dialog identifies callers against (SQLite).

``CustomerStore()`` opens ``var_dir()/customers.sqlite3``, creating it empty on first use: a
production store is filled with ``voicebot customers import FILE.csv``
(:mod:`voicebot.customer_import`). Only the demo and the tests seed the six demo customers
(their PINs are in this file): ``CustomerStore(seed=True)``, or
:func:`demo_customers_wanted` (``$VOICEBOT_DEMO_CUSTOMERS`` or the setting
``customers.seed_demo``) where the action server opens the store. PINs and dates of birth are
stored only as salted PBKDF2 hashes; :meth:`CustomerStore.verify` checks an account number
plus one second factor and returns the customer, or None. Amounts are integer pence.

Every SQLite failure (a corrupt or unreadable file, a locked database) is raised as
:class:`~voicebot.errors.StoreError` naming the file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from voicebot.errors import StoreError
from voicebot.paths import var_dir

DB_NAME = "customers.sqlite3"
_ITERATIONS = 60_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    account_number  TEXT PRIMARY KEY CHECK (length(account_number) = 8),
    name            TEXT NOT NULL,
    phone           TEXT UNIQUE,
    salt            BLOB NOT NULL,
    pin_hash        BLOB NOT NULL,
    dob_hash        BLOB NOT NULL,
    balance_pence   INTEGER NOT NULL DEFAULT 0,
    next_bill_date  TEXT,
    next_bill_pence INTEGER
);
CREATE TABLE IF NOT EXISTS orders (
    order_id        TEXT PRIMARY KEY,
    account_number  TEXT NOT NULL REFERENCES customers(account_number),
    description     TEXT NOT NULL,
    status          TEXT NOT NULL,
    delivery_date   TEXT
);
CREATE TABLE IF NOT EXISTS tickets (
    ticket_id       TEXT PRIMARY KEY,
    account_number  TEXT NOT NULL REFERENCES customers(account_number),
    fault_type      TEXT NOT NULL,
    level           INTEGER NOT NULL,
    status          TEXT NOT NULL,
    opened          TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Customer:
    """A customer, without secrets.

    Attributes:
        balance_pence: amount owed in pence (negative: in credit).
        next_bill_pence: amount of the next bill in pence, if known.
    """

    account_number: str
    name: str
    phone: str | None
    balance_pence: int
    next_bill_date: date | None
    next_bill_pence: int | None


@dataclass(frozen=True)
class Order:
    order_id: str
    description: str
    status: str  # processing | dispatched | scheduled | delivered
    delivery_date: date | None


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    fault_type: str  # internet | power | phone_line | tv
    level: int
    status: str  # open | closed
    opened: date


@dataclass(frozen=True)
class DemoCustomer:
    customer: Customer
    pin: str
    date_of_birth: date
    orders: tuple[Order, ...] = ()
    tickets: tuple[Ticket, ...] = ()


def _d(text: str) -> date:
    return date.fromisoformat(text)


#: Demo customers seeded into a new store (fictional; phone numbers from Ofcom's drama range).
DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer(
        Customer("12345678", "Alice Morgan", "+441632960001", 4250, _d("2026-12-01"), 5820),
        pin="1234",
        date_of_birth=_d("1980-03-12"),
        orders=(Order("BL-100231", "a new broadband router", "dispatched", _d("2026-11-25")),),
    ),
    DemoCustomer(
        Customer("23456789", "Ben Carter", "+441632960002", -1200, _d("2026-12-05"), 3500),
        pin="4321",
        date_of_birth=_d("1975-05-05"),
        orders=(Order("BL-100245", "a smart meter installation", "scheduled", _d("2026-11-30")),),
        tickets=(Ticket("T-5001", "internet", 2, "open", _d("2026-11-18")),),
    ),
    DemoCustomer(
        Customer("55501234", "Chloe Davies", "+441632960003", 0, _d("2026-12-10"), 6100),
        pin="5555",
        date_of_birth=_d("1992-07-21"),
        orders=(Order("BL-100198", "a TV set top box", "delivered", _d("2026-11-20")),),
    ),
    DemoCustomer(
        Customer("87654321", "Daniel Evans", "+441632960004", 1899, _d("2026-11-28"), 7245),
        pin="0007",
        date_of_birth=_d("1965-12-31"),
        tickets=(Ticket("T-5007", "power", 2, "open", _d("2026-11-20")),),
    ),
    DemoCustomer(
        Customer("11223344", "Emma Foster", "+441632960005", 1575, _d("2026-12-03"), 4400),
        pin="2468",
        date_of_birth=_d("2001-07-04"),
        orders=(Order("BL-100260", "a mobile SIM card", "processing", None),),
    ),
    DemoCustomer(
        Customer("99887766", "Farid Gupta", None, 0, _d("2026-12-15"), 2999),
        pin="9090",
        date_of_birth=_d("1958-01-30"),
        tickets=(Ticket("T-4990", "phone_line", 2, "closed", _d("2026-10-02")),),
    ),
)


def demo_customers_wanted() -> bool:
    """Whether a new customer store gets the demo customers: ``$VOICEBOT_DEMO_CUSTOMERS``
    (``1``/``true``/``yes`` or ``0``/``false``/``no``) when set, else the setting
    ``customers.seed_demo`` (false in the embedded defaults)."""
    env = os.environ.get("VOICEBOT_DEMO_CUSTOMERS", "").strip().lower()
    if env:
        return env in ("1", "true", "yes", "on")
    from voicebot.config import load_settings, section_to

    return section_to(CustomersConfig, load_settings(), "customers").seed_demo


@dataclass(frozen=True)
class CustomersConfig:
    """Settings section ``customers``."""

    seed_demo: bool = False
    """Seed the six demo customers (known PINs) into a new store: the demo and tests only."""


def _hash(salt: bytes, secret: str) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt, _ITERATIONS)


def normalise_phone(number: str) -> str:
    """E.164-ish form of a UK caller ID: "01632 960001" and "+44 1632 960001" match."""
    cleaned = re.sub(r"[^\d+]", "", number.strip())
    if cleaned.startswith("sip:"):
        cleaned = cleaned[4:]
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    elif cleaned.startswith("0"):
        cleaned = "+44" + cleaned[1:]
    return cleaned


class CustomerStore:
    """Customers, their orders and support tickets in one SQLite file."""

    def __init__(self, path: Path | str | None = None, *, seed: bool = False) -> None:
        self.path = Path(path) if path is not None else var_dir() / DB_NAME
        with self._connect() as conn:
            conn.executescript(_SCHEMA)
        if seed:
            self.seed()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=5)) as conn:
                conn.row_factory = sqlite3.Row
                with conn:
                    yield conn
        except sqlite3.Error as exc:
            raise StoreError(
                f"customer store {self.path} failed: {exc}",
                hint="delete the file to re-create the demo store",
            ) from exc
        except OSError as exc:
            raise StoreError(f"customer store {self.path} cannot be opened: {exc}") from exc

    def seed(self, customers: tuple[DemoCustomer, ...] = DEMO_CUSTOMERS) -> int:
        """Insert the demo customers that are missing; returns how many were added."""
        added = 0
        with self._connect() as conn:
            for demo in customers:
                c = demo.customer
                exists = conn.execute(
                    "SELECT 1 FROM customers WHERE account_number = ?", (c.account_number,)
                ).fetchone()
                if exists:
                    continue
                salt = os.urandom(16)
                conn.execute(
                    "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        c.account_number,
                        c.name,
                        normalise_phone(c.phone) if c.phone else None,
                        salt,
                        _hash(salt, demo.pin),
                        _hash(salt, demo.date_of_birth.isoformat()),
                        c.balance_pence,
                        c.next_bill_date.isoformat() if c.next_bill_date else None,
                        c.next_bill_pence,
                    ),
                )
                for o in demo.orders:
                    conn.execute(
                        "INSERT OR IGNORE INTO orders VALUES (?, ?, ?, ?, ?)",
                        (
                            o.order_id,
                            c.account_number,
                            o.description,
                            o.status,
                            o.delivery_date.isoformat() if o.delivery_date else None,
                        ),
                    )
                for t in demo.tickets:
                    conn.execute(
                        "INSERT OR IGNORE INTO tickets VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            t.ticket_id,
                            c.account_number,
                            t.fault_type,
                            t.level,
                            t.status,
                            t.opened.isoformat(),
                        ),
                    )
                added += 1
        return added

    @staticmethod
    def _customer(row: sqlite3.Row) -> Customer:
        return Customer(
            account_number=row["account_number"],
            name=row["name"],
            phone=row["phone"],
            balance_pence=int(row["balance_pence"]),
            next_bill_date=_d(row["next_bill_date"]) if row["next_bill_date"] else None,
            next_bill_pence=row["next_bill_pence"],
        )

    def all(self) -> list[Customer]:
        """Every customer, by account number (no secrets)."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM customers ORDER BY account_number").fetchall()
        return [self._customer(r) for r in rows]

    def count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT count(*) FROM customers").fetchone()[0])

    def customer(self, account_number: str) -> Customer | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM customers WHERE account_number = ?", (account_number,)
            ).fetchone()
        return self._customer(row) if row else None

    def verify(
        self, account_number: str, *, pin: str | None = None, date_of_birth: date | None = None
    ) -> Customer | None:
        """The customer when ``pin`` or ``date_of_birth`` matches the account, else None."""
        if (pin is None) == (date_of_birth is None):
            raise ValueError("give exactly one second factor: pin or date_of_birth")
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM customers WHERE account_number = ?", (account_number,)
            ).fetchone()
        if row is None:
            # same cost as a real check, so timing does not reveal which accounts exist
            _hash(b"0" * 16, pin or "")
            return None
        if pin is not None:
            ok = hmac.compare_digest(_hash(row["salt"], pin), row["pin_hash"])
        else:
            assert date_of_birth is not None
            ok = hmac.compare_digest(_hash(row["salt"], date_of_birth.isoformat()), row["dob_hash"])
        return self._customer(row) if ok else None

    def by_caller_id(self, caller_id: str) -> Customer | None:
        """The customer whose phone number is ``caller_id`` (any common UK format)."""
        if not caller_id or not caller_id.strip():
            return None
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM customers WHERE phone = ?", (normalise_phone(caller_id),)
            ).fetchone()
        return self._customer(row) if row else None

    def orders(self, account_number: str) -> list[Order]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM orders WHERE account_number = ? ORDER BY order_id",
                (account_number,),
            ).fetchall()
        return [
            Order(
                r["order_id"],
                r["description"],
                r["status"],
                _d(r["delivery_date"]) if r["delivery_date"] else None,
            )
            for r in rows
        ]

    def open_tickets(self, account_number: str, fault_type: str | None = None) -> list[Ticket]:
        """Open support tickets of the account, optionally only for one kind of fault."""
        query = "SELECT * FROM tickets WHERE account_number = ? AND status = 'open'"
        args: list[str] = [account_number]
        if fault_type:
            query += " AND fault_type = ?"
            args.append(fault_type)
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY ticket_id", args).fetchall()
        return [
            Ticket(r["ticket_id"], r["fault_type"], int(r["level"]), r["status"], _d(r["opened"]))
            for r in rows
        ]
