"""``services.speech_nice`` / ``dialog_nice``: ``voicebot serve`` starts the host's speech and
dialog services at those nice values (every thread of them, a restarted service too), the
workers, the action server and Kamailio stay at 0, and so do their sessions' task groups
(autogroup nice: what actually shares the CPU between the sessions); a value outside -20..19
is a ConfigError; where the host does not permit a negative value (no CAP_SYS_NICE) serve
warns once and runs the services at 0. Everything is real: the models load, the services
answer ``health`` before serve prints "answering SIP". "Without the capability" is made by
dropping it with ``setpriv`` (root) or by running as a user without it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT, free_port, require_peers
from test_worker_nice import processes_below

from voicebot.config import load_settings
from voicebot.errors import ConfigError
from voicebot.services.priority import can_lower_nice, group_nice_of, nice_of
from voicebot.services.settings import ServicesConfig, services_config

START_S = 600.0
"""Longest serve may take to load the models on a busy 2-core machine, s."""


def thread_nices(pid: int) -> set[int]:
    """The nice values of every thread of process ``pid`` (per thread on Linux)."""
    out = set()
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            out.add(int(stat.read_text().rsplit(")", 1)[1].split()[16]))
        except (OSError, IndexError, ValueError):
            continue
    return out


class Served:
    """``voicebot serve`` (the voice pipeline, 1 worker) with ``services`` settings."""

    def __init__(self, folder: Path, services: str, prefix: list[str]) -> None:
        cfg = folder / "settings.yml"
        cfg.write_text(
            "sip:\n  rtp_ports: 40\n  shutdown_grace_s: 5\n"
            f"dialog:\n  action_endpoint: http://127.0.0.1:{free_port()}/webhook\n"
            f"services:\n{services}"
        )
        self.cfg = cfg
        env = {
            **os.environ,
            "VOICEBOT_CONFIG": str(cfg),
            "VOICEBOT_VAR": str(folder / "var"),
            "PYTHONPATH": str(ROOT),
        }
        self.proc = subprocess.Popen(
            [*prefix, PYTHON, "-m", "voicebot.cli", "serve", "--port", str(free_port()),
             "--workers", "1", "--worker-base-port", str(free_port()),
             "--rtp-base-port", str(free_port(40))],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_answering(self) -> None:
        deadline = time.monotonic() + START_S
        while "answering SIP" not in self.output():
            assert self.proc.poll() is None, self.output()[-4000:]
            assert time.monotonic() < deadline, self.output()[-4000:]
            time.sleep(0.5)

    def roles(self) -> dict[str, list[int]]:
        """Role -> pids of the processes below serve (a ``nice`` not yet exec'd left out)."""
        keys = {
            "speech": "services.speech",
            "dialog": "services.dialog",
            "worker": "telephony.worker",
            "actions": "rasa_sdk",
            "kamailio": "kamailio",
        }
        out: dict[str, list[int]] = {k: [] for k in keys}
        for pid, cmd in processes_below(self.proc.pid).items():
            role = next((r for r, key in keys.items() if key in cmd), None)
            if role is not None and not cmd.startswith("nice "):
                out[role].append(pid)
        return out

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(90)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def serve(tmp_path: Path, dialog_model: Path) -> Iterator[list[Served]]:
    require_peers()
    if not Path("/usr/sbin/kamailio").exists():
        pytest.skip("kamailio (Debian package) not installed")
    started: list[Served] = []
    yield started
    for s in started:
        s.stop()


def test_service_nice_out_of_range_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="speech_nice must be -20..19"):
        ServicesConfig(speech_nice=-21)
    with pytest.raises(ConfigError, match="dialog_nice must be -20..19"):
        ServicesConfig(dialog_nice=20)
    cfg = tmp_path / "settings.yml"
    cfg.write_text("services:\n  dialog_nice: 25\n")
    with pytest.raises(ConfigError, match="dialog_nice"):
        services_config(load_settings(cfg))
    cfg.write_text("services:\n  speech_nice: high\n")
    with pytest.raises(ConfigError, match="speech_nice"):
        services_config(load_settings(cfg))
    cfg.write_text("services:\n  speech_nice: -20\n  dialog_nice: 19\n")
    svc = services_config(load_settings(cfg))
    assert (svc.speech_nice, svc.dialog_nice) == (-20, 19)


def test_services_run_at_their_nice_values(tmp_path: Path, serve: list[Served]) -> None:
    if not can_lower_nice(-6):
        pytest.skip("needs CAP_SYS_NICE (root) to run a service at a negative nice value")
    served = Served(tmp_path, "  speech_nice: -3\n  dialog_nice: -6\n", [])
    serve.append(served)
    served.wait_answering()
    roles = served.roles()
    assert all(roles[r] for r in ("speech", "dialog", "worker", "actions", "kamailio")), roles
    (speech,), (dialog,) = roles["speech"], roles["dialog"]
    assert nice_of(speech) == -3 and nice_of(dialog) == -6
    if group_nice_of(speech) is not None:  # their sessions' task groups (autogroup) as well
        assert (group_nice_of(speech), group_nice_of(dialog)) == (-3, -6)
        assert {group_nice_of(p) for p in roles["worker"]} == {0}
    # every thread: decode/synthesis pools, CTranslate2's and TensorFlow's own
    assert len(list(Path(f"/proc/{speech}/task").iterdir())) > 2
    # (the speech service's prompt-cache warm-up thread puts itself at 19 while it runs)
    assert thread_nices(speech) - {19} == {-3} and thread_nices(dialog) == {-6}
    # the action server answers within the dialog's turns: at the dialog's value too
    (actions,) = roles["actions"]
    assert nice_of(actions) == -6 and group_nice_of(actions) in (None, -6)
    assert group_nice_of(actions) == group_nice_of(dialog)
    others = [p for r in ("worker", "kamailio") for p in roles[r]]
    assert {nice_of(p) for p in [served.proc.pid, *others]} == {0}
    assert "CAP_SYS_NICE" not in served.output()

    os.kill(dialog, signal.SIGKILL)  # the restarted dialog service runs at -6 again
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        again = [p for p in served.roles()["dialog"] if p != dialog]
        if again:
            assert nice_of(again[0]) == -6
            assert group_nice_of(again[0]) == group_nice_of(actions)  # -6, or None for both
            break
        time.sleep(0.3)
    else:
        pytest.fail("the killed dialog service was not restarted:\n" + served.output()[-3000:])


def test_without_cap_sys_nice_serve_warns_and_runs_at_0(
    tmp_path: Path, serve: list[Served]
) -> None:
    if os.geteuid() == 0:  # drop the capability for serve and everything it starts
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (Debian util-linux) is needed to drop CAP_SYS_NICE"
        prefix = [setpriv, "--inh-caps=-sys_nice", "--bounding-set=-sys_nice"]
        probe = subprocess.run([*prefix, PYTHON, "-S", "-c", "import os; os.nice(-5)"])
        assert probe.returncode != 0, "setpriv did not take CAP_SYS_NICE away"
    else:
        if can_lower_nice(-5):
            pytest.skip("this user may lower nice values (RLIMIT_NICE): nothing to drop")
        prefix = []
    served = Served(tmp_path, "  speech_nice: -5\n  dialog_nice: -5\n", prefix)
    serve.append(served)
    served.wait_answering()
    out = served.output()
    assert out.count("needs CAP_SYS_NICE") == 1, out
    warning = next(line for line in out.splitlines() if "needs CAP_SYS_NICE" in line)
    assert "WARNING" in warning and "speech_nice -5" in warning and "dialog_nice -5" in warning
    roles = served.roles()
    assert roles["speech"] and roles["dialog"], roles
    started = [p for r in ("speech", "dialog", "worker", "actions") for p in roles[r]]
    assert {nice_of(p) for p in started} == {0}
    assert {group_nice_of(p) for p in started} <= {None, 0}
