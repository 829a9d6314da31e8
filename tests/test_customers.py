"""The SQLite customer store (voicebot.customers), on real files in tmp_path."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from voicebot.customers import DEMO_CUSTOMERS, CustomerStore, normalise_phone
from voicebot.errors import StoreError


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded store per module (hashing the demo secrets takes a moment)."""
    path = tmp_path_factory.mktemp("seeded") / "customers.sqlite3"
    CustomerStore(path, seed=True)
    return path


@pytest.fixture()
def store(tmp_path: Path, seeded_file: Path) -> CustomerStore:
    path = tmp_path / "customers.sqlite3"
    shutil.copyfile(seeded_file, path)
    return CustomerStore(path)


def test_a_new_store_starts_empty(tmp_path: Path) -> None:
    """Production: no demo customers (their PINs are public) unless asked for."""
    path = tmp_path / "sub" / "customers.sqlite3"
    store = CustomerStore(path)
    assert path.is_file()
    assert store.count() == 0
    assert store.verify("12345678", pin="1234") is None


def test_demo_store_is_seeded_when_asked(tmp_path: Path) -> None:
    store = CustomerStore(tmp_path / "customers.sqlite3", seed=True)
    assert store.count() == len(DEMO_CUSTOMERS) == 6


def test_demo_seeding_follows_the_setting_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voicebot.customers import demo_customers_wanted

    monkeypatch.delenv("VOICEBOT_DEMO_CUSTOMERS", raising=False)
    monkeypatch.delenv("VOICEBOT_CONFIG", raising=False)
    assert demo_customers_wanted() is False  # the embedded default: production
    cfg = tmp_path / "settings.yml"
    cfg.write_text("customers:\n  seed_demo: true\n")
    monkeypatch.setenv("VOICEBOT_CONFIG", str(cfg))
    assert demo_customers_wanted() is True
    monkeypatch.setenv("VOICEBOT_DEMO_CUSTOMERS", "0")
    assert demo_customers_wanted() is False
    monkeypatch.setenv("VOICEBOT_DEMO_CUSTOMERS", "1")
    monkeypatch.delenv("VOICEBOT_CONFIG")
    assert demo_customers_wanted() is True


def test_seeding_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "customers.sqlite3"
    first = CustomerStore(path, seed=True)
    assert first.seed() == 0
    second = CustomerStore(path, seed=True)
    assert second.count() == 6
    assert len(second.orders("12345678")) == 1
    # the second open did not re-salt: the first PIN still verifies
    assert second.verify("12345678", pin="1234") is not None


def test_default_path_is_under_var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEBOT_VAR", str(tmp_path / "var"))
    store = CustomerStore()
    assert store.path == (tmp_path / "var" / "customers.sqlite3").resolve()
    assert store.path.is_file()


def test_verify_by_pin(store: CustomerStore) -> None:
    customer = store.verify("12345678", pin="1234")
    assert customer is not None
    assert customer.name == "Alice Morgan"
    assert customer.balance_pence == 4250
    assert customer.next_bill_date == date(2026, 12, 1)


def test_verify_by_date_of_birth(store: CustomerStore) -> None:
    customer = store.verify("23456789", date_of_birth=date(1975, 5, 5))
    assert customer is not None and customer.name == "Ben Carter"
    assert customer.balance_pence < 0  # in credit


@pytest.mark.parametrize(
    ("account", "kwargs"),
    [
        ("12345678", {"pin": "4321"}),  # another customer's PIN
        ("12345678", {"pin": "123"}),
        ("12345678", {"date_of_birth": date(1980, 3, 13)}),
        ("00000000", {"pin": "1234"}),  # no such account
        ("23456789", {"pin": "1234"}),
    ],
)
def test_wrong_second_factor_fails(store: CustomerStore, account: str, kwargs: dict) -> None:
    assert store.verify(account, **kwargs) is None


def test_verify_needs_exactly_one_factor(store: CustomerStore) -> None:
    with pytest.raises(ValueError):
        store.verify("12345678")
    with pytest.raises(ValueError):
        store.verify("12345678", pin="1234", date_of_birth=date(1980, 3, 12))


def test_secrets_are_stored_hashed_with_a_salt(store: CustomerStore) -> None:
    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT salt, pin_hash, dob_hash FROM customers").fetchall()
        dump = "\n".join(conn.iterdump())
    assert "1234" not in {row[1] for row in rows}
    assert "1980-03-12" not in dump
    assert len({row[0] for row in rows}) == len(rows)  # one salt per customer
    # Chloe's PIN is 5555 and Alice's is 1234: hashes all differ
    assert len({row[1] for row in rows}) == len(rows)


@pytest.mark.parametrize(
    "caller_id", ["+441632960001", "+44 1632 960001", "01632 960001", "00441632960001"]
)
def test_caller_id_lookup(store: CustomerStore, caller_id: str) -> None:
    customer = store.by_caller_id(caller_id)
    assert customer is not None and customer.account_number == "12345678"


@pytest.mark.parametrize("caller_id", ["+441632960999", "", "   ", "anonymous"])
def test_unknown_caller_id(store: CustomerStore, caller_id: str) -> None:
    assert store.by_caller_id(caller_id) is None


def test_normalise_phone() -> None:
    assert normalise_phone("01632 960001") == "+441632960001"
    assert normalise_phone("+44 (1632) 960-001") == "+441632960001"
    assert normalise_phone("0044 1632 960001") == "+441632960001"


def test_orders_and_tickets(store: CustomerStore) -> None:
    orders = store.orders("12345678")
    assert [o.status for o in orders] == ["dispatched"]
    assert orders[0].delivery_date == date(2026, 11, 25)
    assert store.orders("87654321") == []
    # Ben has an open level-2 internet ticket; Farid's phone-line ticket is closed
    tickets = store.open_tickets("23456789", "internet")
    assert [(t.ticket_id, t.level) for t in tickets] == [("T-5001", 2)]
    assert store.open_tickets("23456789", "power") == []
    assert store.open_tickets("99887766") == []


def test_corrupt_file_gives_store_error(tmp_path: Path) -> None:
    path = tmp_path / "customers.sqlite3"
    path.write_bytes(b"this is not a database at all, just some bytes" * 100)
    with pytest.raises(StoreError) as caught:
        CustomerStore(path)
    assert str(path) in str(caught.value)
    assert caught.value.code == "store-failed"
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_store_that_cannot_be_created_gives_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        CustomerStore(blocker / "customers.sqlite3")
