"""Dialog data checks before training: broken YAML is named precisely, changes retrain."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from voicebot.dialog.training import DialogProject, check_yaml
from voicebot.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def test_broken_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "intents.yml"
    bad.write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi\n  - [oops\n')
    with pytest.raises(DataError) as err:
        check_yaml([bad])
    assert str(bad) in str(err.value)
    assert ":6:" in str(err.value)


def test_project_discovery_finds_the_shipped_dialog() -> None:
    project = DialogProject.discover(ROOT)
    names = {p.name for p in project.data}
    assert project.config.name == "config.yml"
    assert "rules.yml" in names and "stories.yml" in names
    assert all("tests" not in p.parts for p in project.data)  # test stories never train


def test_fingerprint_changes_with_the_data(tmp_path: Path) -> None:
    copy = tmp_path / "project"
    for part in ("nlu", "dialogs"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    first = DialogProject.discover(copy)
    before = first.fingerprint()
    assert DialogProject.discover(copy).fingerprint() == before
    target = first.data[0]
    target.write_text(target.read_text() + "\n# a comment is a change too\n")
    assert DialogProject.discover(copy).fingerprint() != before


def test_missing_domain_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "nlu").mkdir()
    (tmp_path / "dialogs").mkdir()
    (tmp_path / "dialogs" / "config.yml").write_text("language: en\n")
    with pytest.raises(DataError, match="missing"):
        DialogProject.discover(tmp_path)
