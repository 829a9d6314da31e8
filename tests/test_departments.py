"""The department config file (voicebot.departments)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from voicebot.departments import DEFAULT_FILE, REQUIRED_KEYS, load_departments
from voicebot.errors import ConfigError

UTC = ZoneInfo("UTC")
FROZEN = datetime(2026, 11, 23, 18, 30, tzinfo=UTC)  # the dialog tests' clock (a Monday)


def _valid() -> dict:
    return yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "departments.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_default_file_loads_all_departments() -> None:
    config = load_departments()
    assert set(REQUIRED_KEYS) <= set(config.keys())
    billing = config.get("billing")
    assert billing.name == "billing"
    assert billing.level == 1
    assert billing.transfer_uri == "sip:billing@127.0.0.1:5090"
    assert config.get("support_l3").level == 3
    assert config.get("support_l2").escalates_to == "support_l3"
    assert config.default == "customer_service"


def test_frozen_test_clock_closes_only_contracts() -> None:
    config = load_departments()
    closed = [key for key in config.keys() if not config.is_open(key, FROZEN)]
    assert closed == ["contracts"]


def test_env_var_points_at_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _valid()
    data["departments"]["billing"]["name"] = "the money people"
    monkeypatch.setenv("VOICEBOT_DEPARTMENTS", str(_write(tmp_path, data)))
    assert load_departments().get("billing").name == "the money people"


def test_is_open_across_days_and_hours() -> None:
    config = load_departments()
    london = ZoneInfo("Europe/London")
    # contracts: mon-fri 09:00-17:30, closed at weekends
    assert config.is_open("contracts", datetime(2026, 11, 23, 9, 0, tzinfo=london))
    assert config.is_open("contracts", datetime(2026, 11, 23, 17, 29, tzinfo=london))
    assert not config.is_open("contracts", datetime(2026, 11, 23, 17, 30, tzinfo=london))
    assert not config.is_open("contracts", datetime(2026, 11, 23, 8, 59, tzinfo=london))
    assert not config.is_open("contracts", datetime(2026, 11, 28, 12, 0, tzinfo=london))  # Sat
    # billing opens Saturday morning only; sales on Sunday
    assert config.is_open("billing", datetime(2026, 11, 28, 10, 0, tzinfo=london))
    assert not config.is_open("billing", datetime(2026, 11, 28, 14, 0, tzinfo=london))
    assert config.is_open("sales", datetime(2026, 11, 29, 11, 0, tzinfo=london))
    assert not config.is_open("billing", datetime(2026, 11, 29, 11, 0, tzinfo=london))
    # level 2 support never closes, "24:00" included
    assert config.is_open("support_l2", datetime(2026, 11, 29, 23, 59, tzinfo=london))
    assert config.is_open("support_l2", datetime(2026, 11, 29, 0, 0, tzinfo=london))


def test_is_open_converts_time_zones() -> None:
    config = load_departments()
    # 08:30 in London in summer (BST, UTC+1) is 07:30 UTC: billing (from 08:00) is open
    assert config.is_open("billing", datetime(2026, 7, 6, 7, 30, tzinfo=UTC))
    # the same UTC time in winter is 07:30 in London: closed
    assert not config.is_open("billing", datetime(2026, 11, 23, 7, 30, tzinfo=UTC))
    # 17:00 in New York on a Monday is 22:00 in London: contracts closed
    new_york = ZoneInfo("America/New_York")
    assert not config.is_open("contracts", datetime(2026, 11, 23, 17, 0, tzinfo=new_york))
    assert config.is_open("contracts", datetime(2026, 11, 23, 6, 0, tzinfo=new_york))


def test_department_timezone_overrides_top_level(tmp_path: Path) -> None:
    data = _valid()
    data["departments"]["sales"]["timezone"] = "Asia/Tokyo"
    data["departments"]["sales"]["hours"] = {"mon-fri": "09:00-17:00"}
    config = load_departments(_write(tmp_path, data))
    # Monday 01:00 UTC is Monday 10:00 in Tokyo
    assert config.is_open("sales", datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    assert not config.is_open("sales", datetime(2026, 11, 23, 12, 0, tzinfo=UTC))


def test_spoken_hours() -> None:
    config = load_departments()
    assert config.get("contracts").describe_hours() == "Monday to Friday from 9 am to 5:30 pm"
    assert config.get("support_l2").describe_hours() == "every day around the clock"
    assert "Saturday and Sunday from 9 am to 6 pm" in config.get("support_l3").describe_hours()


def test_split_ranges_and_closed_days(tmp_path: Path) -> None:
    data = _valid()
    data["departments"]["sales"]["hours"] = {
        "mon,wed": "09:00-12:00, 13:00-17:00",
        "tue": "closed",
    }
    sales = load_departments(_write(tmp_path, data)).get("sales")
    london = ZoneInfo("Europe/London")
    assert sales.is_open(datetime(2026, 11, 23, 11, 0, tzinfo=london))
    assert not sales.is_open(datetime(2026, 11, 23, 12, 30, tzinfo=london))
    assert not sales.is_open(datetime(2026, 11, 24, 11, 0, tzinfo=london))
    assert sales.is_open(datetime(2026, 11, 25, 16, 59, tzinfo=london))


def _broken(tmp_path: Path, mutate) -> str:  # type: ignore[no-untyped-def]
    data = _valid()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_departments(path)
    message = str(caught.value)
    assert str(path) in message
    return message


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "departments.yml"
    path.write_text("departments:\n  billing: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line") as caught:
        load_departments(path)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_departments(tmp_path / "nope.yml")


def test_missing_field(tmp_path: Path) -> None:
    def drop(d: dict) -> None:
        del d["departments"]["billing"]["transfer_uri"]

    message = _broken(tmp_path, drop)
    assert "department 'billing'" in message and "missing field 'transfer_uri'" in message


@pytest.mark.parametrize(
    ("hours", "problem"),
    [
        ("25:00-26:00", "'25:00' is not a time of day"),
        ("08:00-18:61", "'18:61' is not a time of day"),
        ("9am-5pm", "not a time range"),
        ("18:00-08:00", "ends before it starts"),
    ],
)
def test_bad_hours(tmp_path: Path, hours: str, problem: str) -> None:
    def set_hours(d: dict) -> None:
        d["departments"]["sales"]["hours"] = {"mon-fri": hours}

    message = _broken(tmp_path, set_hours)
    assert "department 'sales'" in message and "field 'hours'" in message
    assert problem in message


def test_bad_day(tmp_path: Path) -> None:
    def set_day(d: dict) -> None:
        d["departments"]["sales"]["hours"] = {"monday-fri": "08:00-18:00"}

    assert "unknown day range 'monday-fri'" in _broken(tmp_path, set_day)


def test_day_given_twice(tmp_path: Path) -> None:
    def twice(d: dict) -> None:
        d["departments"]["sales"]["hours"] = {"mon-fri": "08:00-18:00", "fri": "08:00-12:00"}

    assert "Friday is given twice" in _broken(tmp_path, twice)


def test_bad_level_uri_and_timezone(tmp_path: Path) -> None:
    def level(d: dict) -> None:
        d["departments"]["billing"]["level"] = 4

    assert "field 'level': must be 1, 2 or 3" in _broken(tmp_path, level)

    def uri(d: dict) -> None:
        d["departments"]["billing"]["transfer_uri"] = "billing@127.0.0.1"

    assert "field 'transfer_uri'" in _broken(tmp_path, uri)

    def zone(d: dict) -> None:
        d["departments"]["billing"]["timezone"] = "Mars/Olympus"

    assert "unknown time zone 'Mars/Olympus'" in _broken(tmp_path, zone)


def test_unknown_department_referenced(tmp_path: Path) -> None:
    def escalate(d: dict) -> None:
        d["departments"]["support_l2"]["escalates_to"] = "support_l9"

    message = _broken(tmp_path, escalate)
    assert "department 'support_l2'" in message and "unknown department 'support_l9'" in message

    def default(d: dict) -> None:
        d["default"] = "reception"

    assert "field 'default': unknown department 'reception'" in _broken(tmp_path, default)


def test_required_department_missing(tmp_path: Path) -> None:
    def drop(d: dict) -> None:
        del d["departments"]["complaints"]

    assert "missing department 'complaints'" in _broken(tmp_path, drop)


def test_unknown_field_is_reported(tmp_path: Path) -> None:
    def typo(d: dict) -> None:
        d["departments"]["sales"]["transfer_url"] = "sip:x@y"

    assert "unknown field 'transfer_url'" in _broken(tmp_path, typo)


def test_get_unknown_key_names_known_ones() -> None:
    with pytest.raises(ConfigError, match="no department 'reception'.*billing"):
        load_departments().get("reception")


# --- the keypad menu (issue 10, part 8) ---------------------------------------------------


def test_default_menu_follows_the_departments() -> None:
    config = load_departments()
    assert [e.key for e in config.menu] == ["1", "2", "3", "4", "5", "0"]
    billing = config.menu_entry("1")
    assert billing is not None and billing.department == "billing" and billing.intent is None
    fault = config.menu_entry("2")
    assert fault is not None and fault.intent == "report_fault" and fault.department is None
    assert config.menu_entry("9") is None
    prompt = config.menu_prompt()
    assert prompt.startswith("press 1 for billing, 2 for a fault,")
    assert prompt.endswith(", or 0 for anything else")


def test_menu_is_optional(tmp_path: Path) -> None:
    data = _valid()
    del data["menu"]
    config = load_departments(_write(tmp_path, data))
    assert config.menu == () and config.menu_prompt() == ""


def test_menu_entry_for_a_renamed_department(tmp_path: Path) -> None:
    data = _valid()
    data["departments"]["accounts"] = data["departments"]["billing"]
    data["menu"]["1"] = {"label": "accounts", "department": "accounts"}
    entry = load_departments(_write(tmp_path, data)).menu_entry("1")
    assert entry is not None and entry.department == "accounts" and entry.label == "accounts"


@pytest.mark.parametrize(
    ("menu", "problem"),
    [
        ("press one", "must map keys"),
        ({"12": {"label": "x", "department": "billing"}}, "key '12': a key must be one of 0-9"),
        ({"#": {"label": "x", "department": "billing"}}, "key '#': a key must be one of 0-9"),
        ({"1": "billing"}, "key '1': must be a mapping"),
        ({"1": {"department": "billing"}}, "key '1': missing field 'label'"),
        ({"1": {"label": "x"}}, "give either 'department' or 'intent'"),
        (
            {"1": {"label": "x", "department": "billing", "intent": "report_fault"}},
            "give either 'department' or 'intent'",
        ),
        (
            {"1": {"label": "x", "department": "accounts"}},
            "key '1', field 'department': unknown department 'accounts'",
        ),
        (
            {"1": {"label": "x", "intent": "order_pizza"}},
            "key '1', field 'intent': 'order_pizza' is not a request the dialog can start",
        ),
        ({"1": {"label": "x", "queue": "billing"}}, "key '1': unknown field 'queue'"),
        ({1: {"label": "a", "intent": "help"}, "1": {"label": "b", "intent": "help"}}, "twice"),
        ({str(k): {"label": "x", "intent": "help"} for k in range(10)}, "at most 9"),
    ],
)
def test_bad_menu_is_a_clear_error(tmp_path: Path, menu: object, problem: str) -> None:
    data = _valid()
    data["menu"] = menu
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_departments(path)
    assert problem in str(info.value)
    assert str(path) in str(info.value) and "'menu'" in str(info.value)
