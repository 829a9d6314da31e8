"""The voicebot command: sub-commands are there, errors are short and coded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from voicebot.cli import build_parser, main


def test_every_documented_command_is_registered() -> None:
    _, modules = build_parser()
    for name in ("train", "chat", "test-dialogs", "actions", "call", "replay"):
        assert name in modules, name


def test_missing_caller_file_exits_2_with_a_coded_message(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["call", str(tmp_path / "missing.wav")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error[audio-invalid]")
    assert "missing.wav" in err


def test_garbage_caller_audio_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "caller.wav"
    garbage.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    proc = subprocess.run(
        [sys.executable, "-m", "voicebot.cli", "call", str(garbage)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "error[audio-invalid]" in proc.stderr
    assert "Traceback" not in proc.stderr
