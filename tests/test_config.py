"""Settings: defaults, user overrides, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.audio.vad import VadConfig
from voicebot.config import load_settings, section_to
from voicebot.errors import ConfigError
from voicebot.session import SessionConfig


def test_defaults_build_every_section() -> None:
    settings = load_settings()
    assert section_to(VadConfig, settings, "vad").end_silence_ms > 0
    assert section_to(SessionConfig, settings, "session").max_no_input >= 1


def test_user_file_overrides_one_key(tmp_path: Path) -> None:
    user = tmp_path / "my.yml"
    user.write_text("vad:\n  end_silence_ms: 400\n")
    settings = load_settings(user)
    vad = section_to(VadConfig, settings, "vad")
    assert vad.end_silence_ms == 400
    assert vad.threshold == section_to(VadConfig, load_settings(), "vad").threshold


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vad:\n  end_silence_ms: [1\n", "not valid YAML at line"),
        ("nosuch:\n  a: 1\n", "unknown section 'nosuch'"),
        ("vad:\n  bogus: 1\n", "unknown key 'bogus'"),
        ("vad:\n  end_silence_ms: soon\n", "'end_silence_ms' = 'soon' is not a valid"),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_bad_user_files_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    user = tmp_path / "bad.yml"
    user.write_text(text)
    with pytest.raises(ConfigError, match=message):
        section_to(VadConfig, load_settings(user), "vad")


def test_missing_user_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.yml")
