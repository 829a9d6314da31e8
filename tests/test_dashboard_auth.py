"""Dashboard building blocks without a browser: password hashes, the users file, login
sessions, the redirect after login, CSV cells, the NLU export (read back by Rasa's own
YAML reader) and the SVG charts' escaping."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from voicebot.errors import ConfigError
from voicebot.spreadsheet import safe_cell
from voicebot.web.app import _safe_next
from voicebot.web.auth import Sessions, UserDirectory, hash_password, verify_password
from voicebot.web.charts import bar_chart, hbar_chart
from voicebot.web.views_work import nlu_yaml


def test_passwords_are_salted_scrypt_hashes() -> None:
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a.startswith("scrypt$") and a != b and "correct" not in a
    assert verify_password("correct horse", a) and verify_password("correct horse", b)
    assert not verify_password("wrong horse", a)
    assert not verify_password("correct horse", "md5$abc") and not verify_password("x", "junk")


def test_users_file_roles_and_departments(tmp_path: Path) -> None:
    path = tmp_path / "users.yml"
    users = UserDirectory(path)
    users.add("sam", "pw-12345678", "supervisor")
    users.add("bea", "pw-87654321", "agent", "billing")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "pw-1234" not in path.read_text()
    again = UserDirectory(path)
    sam, bea = again.authenticate("sam", "pw-12345678"), again.authenticate("bea", "pw-87654321")
    assert sam is not None and sam.is_supervisor and sam.may_see_department("contracts")
    assert bea is not None and not bea.is_supervisor and bea.department == "billing"
    assert bea.may_see_department("billing") and not bea.may_see_department("contracts")
    assert not bea.may_see_department(None)
    assert again.authenticate("bea", "pw-12345678") is None
    assert again.authenticate("nobody", "pw-12345678") is None
    with pytest.raises(ConfigError, match="department"):
        users.add("cy", "pw-11111111", "agent")
    with pytest.raises(ConfigError, match="role"):
        users.add("cy", "pw-11111111", "admin")
    path.write_text("users:\n  eve: {role: root, password: x}\n")
    with pytest.raises(ConfigError, match="role must be one of"):
        UserDirectory(path)


def test_sessions_expire_after_idle_time() -> None:
    sessions = Sessions(idle_s=0.05)
    users = UserDirectory(Path("/nonexistent/users.yml"))
    assert len(users) == 0
    from voicebot.web.auth import User

    token, login = sessions.create(User("sam", "supervisor"))
    assert sessions.get(token) is login and login.csrf
    import time

    time.sleep(0.1)
    assert sessions.get(token) is None
    assert sessions.get(None) is None and sessions.get("forged") is None


def test_only_local_paths_are_followed_after_login() -> None:
    assert _safe_next("/stats?from=2026-11-01") == "/stats?from=2026-11-01"
    for bad in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "", None):
        assert _safe_next(bad) == "/"


def testsafe_cells_cannot_become_spreadsheet_formulas() -> None:
    assert safe_cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("-2+3") == "'-2+3"
    assert safe_cell("+441632960001") == "+441632960001"  # a phone number stays a number
    assert safe_cell(12.5) == 12.5


def test_nlu_export_is_rasa_yaml_grouped_by_guessed_intent() -> None:
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    turns = [
        {"intent": "nlu_fallback", "heard": "can I talk about my  dog"},
        {"intent": None, "heard": "hmm"},
        {"intent": "check_balance", "heard": "what do I owe you"},
        {"intent": "check_balance", "heard": "what do I owe you"},
    ]
    text = nlu_yaml(turns, ("nlu_fallback", "out_of_scope"))
    data = RasaYAMLReader().reads(text)
    got = sorted((m.get("intent"), m.get("text")) for m in data.training_examples)
    assert got == [
        ("check_balance", "what do I owe you"),
        ("unlabelled", "can I talk about my dog"),
        ("unlabelled", "hmm"),
    ]


def test_chart_labels_are_escaped() -> None:
    svg = bar_chart(["<script>"], [3], title="a & b") + hbar_chart([("<b>x</b>", 2)], title="t")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "<b>" not in svg and "a &amp; b" in svg
