"""``voicebot customers import``: CSV into a real SQLite store, all rows or none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from voicebot.cli import main
from voicebot.customers import CustomerStore

HEADER = "account_number,name,pin,date_of_birth,phone,balance_pence,next_bill_date\n"
GOOD = (
    HEADER
    + "31415926,Grace Hopper,2718,1946-12-09,01632 960111,1250,2026-12-20\n"
    + "27182818,Alan Turing,1414,1952-06-23,,0,\n"
)


def _run(tmp_path: Path, *args: str) -> int:
    return main(["customers", "--store", str(tmp_path / "customers.sqlite3"), *args])


def test_import_then_verify_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "customers.csv"
    csv.write_text(GOOD)
    assert _run(tmp_path, "import", str(csv)) == 0
    assert "imported 2 customer(s)" in capsys.readouterr().out
    store = CustomerStore(tmp_path / "customers.sqlite3")
    assert store.count() == 2  # no demo customers came with it
    grace = store.verify("31415926", pin="2718")
    assert grace is not None and grace.balance_pence == 1250
    assert store.by_caller_id("+441632960111") == grace
    assert store.verify("27182818", pin="0000") is None
    raw = sqlite3.connect(store.path).execute("SELECT pin_hash FROM customers").fetchall()
    assert all(b"2718" not in r[0] for r in raw)  # hashed
    assert _run(tmp_path, "list") == 0
    out = capsys.readouterr().out
    assert "****5926  Grace Hopper" in out and "31415926" not in out


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ("31415926,Grace Hopper,,1946-12-09,,,", "row 3, column 'pin': missing"),
        ("31415926,Grace Hopper,27a8,1946-12-09,,,", "row 3, column 'pin': must be 4 digits"),
        ("3141592,Grace Hopper,2718,1946-12-09,,,", "row 3, column 'account_number'"),
        ("31415926,Grace Hopper,2718,1946-13-09,,,", "row 3, column 'date_of_birth'"),
        ("31415926,Grace Hopper,2718,2999-01-01,,,", "must be in the past"),
        ("27182818,Grace Hopper,2718,1946-12-09,,,", "duplicate of row 2"),
        ("31415926,Grace Hopper,2718,1946-12-09,,12.50,", "column 'balance_pence'"),
        ("31415926,Grace Hopper,2718,1946-12-09,not-a-phone,,", "column 'phone'"),
        ("31415926,Grace Hopper,2718,1946-12-09,,,,extra", "more values than columns"),
    ],
)
def test_a_bad_row_is_named_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, where: str
) -> None:
    csv = tmp_path / "customers.csv"
    csv.write_text(HEADER + "27182818,Alan Turing,1414,1952-06-23,,0,\n" + row + "\n")
    assert _run(tmp_path, "import", str(csv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error[data-invalid]: customers.csv ") and where in err, err
    assert CustomerStore(tmp_path / "customers.sqlite3").count() == 0  # all or nothing


def test_an_account_already_in_the_store_rolls_back_the_whole_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.csv"
    first.write_text(HEADER + "27182818,Alan Turing,1414,1952-06-23,,0,\n")
    assert _run(tmp_path, "import", str(first)) == 0
    second = tmp_path / "second.csv"
    second.write_text(GOOD)  # Grace is new, Alan is already there
    assert _run(tmp_path, "import", str(second)) == 2
    err = capsys.readouterr().err
    assert "second.csv row 3, column 'account_number': already in the customer store" in err
    store = CustomerStore(tmp_path / "customers.sqlite3")
    assert store.count() == 1 and store.customer("31415926") is None


def test_missing_columns_and_files_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "customers.csv"
    csv.write_text("account_number,name\n31415926,Grace Hopper\n")
    assert _run(tmp_path, "import", str(csv)) == 2
    assert "lacks column(s) pin, date_of_birth" in capsys.readouterr().err
    assert _run(tmp_path, "import", str(tmp_path / "nope.csv")) == 2
    assert "error[data-invalid]: cannot read customers file" in capsys.readouterr().err


def test_seed_demo_is_explicit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, "list") == 0
    assert "0 customer(s)" in capsys.readouterr().out
    assert _run(tmp_path, "seed-demo") == 0
    assert CustomerStore(tmp_path / "customers.sqlite3").count() == 6
