"""Helpers of the ACD tests over real SIP: ``voicebot serve`` with ``sip.acd: true`` and a
test agents file, and real pjsua2 agent phones (tests/sip/agent_phone.py) registered to its
Kamailio. Times are seconds."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _browser import served
from conftest import HERE, PYTHON, ROOT, free_port, require_peers

from voicebot.center.agents import load_agents
from voicebot.center.board import AgentBoard, AgentStatus

KAMAILIO = Path("/usr/sbin/kamailio")


def require_kamailio() -> None:
    require_peers()
    if not KAMAILIO.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("kamailio (Debian package) not installed")
        pytest.skip("kamailio (Debian package) not installed")


@dataclass
class AcdService:
    """A running ``voicebot serve`` with the built-in ACD."""

    proc: subprocess.Popen[str]
    port: int
    folder: Path
    phones: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"sip:bot@127.0.0.1:{self.port}"

    def result(self, caller: str, timeout_s: float = 20.0) -> dict:
        path = self.folder / "results" / f"{caller}.json"
        end = time.monotonic() + timeout_s
        while not path.exists() and time.monotonic() < end:
            time.sleep(0.1)
        assert path.exists(), f"the handler wrote no result for {caller}"
        return json.loads(path.read_text())

    def board(self) -> AgentBoard:
        return AgentBoard(self.folder / "var" / "acd.sqlite3", load_agents(self.folder / "a.yml"))

    def status(self) -> dict[str, AgentStatus]:
        return {s.key: s for s in self.board().status(time.monotonic())}

    def wait_state(self, key: str, state: str, timeout_s: float = 15.0) -> AgentStatus:
        end = time.monotonic() + timeout_s
        while True:
            status = self.status()[key]
            if status.state == state or time.monotonic() > end:
                return status
            time.sleep(0.2)

    def sql(self, query: str, *args: object) -> list[tuple]:
        with sqlite3.connect(self.folder / "var" / "acd.sqlite3") as db:
            return list(db.execute(query, args))

    def offers(self) -> list[list[tuple[str, str]]]:
        """Per queued call (oldest first), the agents rung and what each did."""
        calls = [r[0] for r in self.sql("SELECT call_ref FROM queue ORDER BY joined_at")]
        return [
            [
                (a, r)
                for a, r in self.sql(
                    "SELECT agent, result FROM offers WHERE call_ref = ? ORDER BY id", ref
                )
            ]
            for ref in calls
        ]

    def phone(
        self,
        user: str,
        tmp: Path,
        *opts: str,
        wait_state: str = "available",
        password: str | None = None,
    ) -> Path:
        """Start an agent phone for ``user`` (with the agent's password from the agents
        file unless ``password`` is given); wait until the board shows it registered (and
        in ``wait_state``, "" for not waiting); returns its report path."""
        report = tmp / f"{user}.json"
        if password is None:
            agent = load_agents(self.folder / "a.yml").by_sip_user(user)
            password = agent.password if agent else ""
        if password:
            opts = (*opts, "--password", password)
        proc = subprocess.Popen(
            [PYTHON, str(HERE / "agent_phone.py"), "--user", user, "--registrar",
             f"127.0.0.1:{self.port}", "--port", str(free_port()), "--rtp-port",
             str(free_port(4)), "--unregister", "--ready", str(tmp / f"{user}.ready"),
             "--report", str(report), *opts],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp,
        )  # fmt: skip
        self.phones.append(proc)
        if wait_state:
            status = self.wait_state(user, wait_state)
            assert status.state == wait_state and status.registered, status
        return report

    def stop_phones(self, timeout_s: float = 60.0, *, terminate: bool = False) -> None:
        """Wait for the phones to end (``terminate``: SIGTERM first, they end at once and
        write their reports); kill those still running after ``timeout_s``."""
        end = time.monotonic() + timeout_s
        if terminate:
            for proc in self.phones:
                proc.send_signal(signal.SIGTERM)
        for proc in self.phones:
            try:
                proc.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.phones.clear()


@contextmanager
def acd_service(
    folder: Path,
    agents: str,
    settings: str = "",
    handler: str = "queue_handler:handle_call",
    env: dict[str, str] | None = None,
) -> Iterator[AcdService]:
    """``voicebot serve`` (one worker, Kamailio as the agents' registrar) running
    ``handler`` with the agents file ``agents``; stopped (SIGTERM) on exit."""
    require_kamailio()
    (folder / "a.yml").write_text(agents)
    cfg = folder / "settings.yml"
    cfg.write_text(
        "sip:\n  rtp_ports: 40\n  shutdown_grace_s: 5\n  media_timeout_s: 20\n  acd: true\n"
        f"  handler: {handler}\n{settings}"
    )
    port, workers, rtp = free_port(), free_port(), free_port(40)
    env = {
        **os.environ,
        **(env or {}),
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_VAR": str(folder / "var"),
        "VOICEBOT_AGENTS": str(folder / "a.yml"),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}",
        "VOICEBOT_TEST_RESULTS": str(folder / "results"),
    }
    proc = subprocess.Popen(
        [PYTHON, "-m", "voicebot.cli", "serve", "--port", str(port), "--workers", "1",
         "--worker-base-port", str(workers), "--rtp-base-port", str(rtp)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    seen = ""
    while "answering SIP" not in seen and proc.poll() is None and seen.count("\n") < 80:
        seen += proc.stdout.readline()
    assert "answering SIP" in seen, seen
    log = folder / "serve.log"
    log.write_text(seen)

    def drain() -> None:  # a full pipe would block the service
        with open(log, "a") as f:
            for line in proc.stdout or ():
                f.write(line)

    threading.Thread(target=drain, daemon=True).start()
    service = AcdService(proc, port, folder)
    try:
        yield service
    finally:
        for phone in service.phones:
            if phone.poll() is None:
                phone.kill()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


class DashboardAgent:
    """An agent logged in to the real dashboard app (aiohttp on 127.0.0.1), using the
    agent page's pause / resume form over HTTP like a browser does (CSRF token included)."""

    def __init__(self, base: str, user: str, password: str) -> None:
        import http.cookiejar
        import urllib.request

        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self._get("/login")
        self.page = self._post("/login", user=user, password=password, csrf=_csrf(page), next="/")

    def _get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as resp:
            return str(resp.read().decode())

    def _post(self, path: str, **form: str) -> str:
        import urllib.parse

        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(self.base + path, data=data, timeout=30) as resp:
            return str(resp.read().decode())

    def state(self) -> str:
        """``data-state`` of the agent page's state form."""
        import re

        self.page = self._get("/agent")
        found = re.search(r'id="agent-state"[^>]*data-state="([a-z_]+)"', self.page)
        assert found, self.page[-2000:]
        return found.group(1)

    def press(self, action: str) -> str:
        """Press the pause / resume button; the state the page shows afterwards."""
        assert f'name="action" value="{action}"' in self._get("/agent")
        self.page = self._post("/agent/state", action=action, csrf=_csrf(self.page))
        return self.state()


def _csrf(page: str) -> str:
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[-2000:]
    return found.group(1)


@contextmanager
def dashboard(board: AgentBoard, folder: Path, users: dict[str, str]) -> Iterator[str]:
    """The real dashboard app on a free port of 127.0.0.1 over ``board`` (agent users
    ``users``: name -> password, department billing); yields its base URL."""
    from voicebot.messages import MessageStore
    from voicebot.records.store import RecordStore
    from voicebot.web.app import make_app
    from voicebot.web.auth import UserDirectory

    directory = UserDirectory(folder / "users.yml")
    for name, password in users.items():
        directory.add(name, password, "agent", "billing")
    app = make_app(
        RecordStore(f"sqlite:///{folder / 'records.sqlite3'}"),
        MessageStore(folder / "messages.sqlite3"), UserDirectory(folder / "users.yml"),
        housekeeping=False, board=board,
    )  # fmt: skip
    with served(app) as base:
        yield base
