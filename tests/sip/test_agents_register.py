"""Agents' phones register to the Kamailio of ``voicebot serve`` (``sip.acd: true``) and the
agent board sees them: a real pjsua2 phone (tests/sip/agent_phone.py) sends REGISTER, the
supervisor reads Kamailio's location table (``ul.dump``) and marks the agent available."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import HERE, PYTHON, ROOT, free_port, require_peers

from voicebot.center.agents import load_agents
from voicebot.center.board import AgentBoard
from voicebot.center.registrations import parse_ul_dump

KAMAILIO = Path("/usr/sbin/kamailio")

UL_DUMP = """{
	Domains: {
		Domain: {
			Domain: location
			AoRs: {
				Info: {
					AoR: alice
					Contacts: {
						Contact: {
							Address: sip:alice@127.0.0.1:25080;ob
							Expires: 298
						}
						Contact: {
							Address: sip:alice@10.0.0.9:5060
							Expires: deleted
						}
					}
				}
				Info: {
					AoR: bilal@example.org
					Contacts: {
						Contact: {
							Address: sip:bilal@10.0.0.8:5062
							Expires: permanent
						}
					}
				}
			}
		}
	}
}
"""


def test_parse_ul_dump_keeps_live_contacts() -> None:
    contacts = parse_ul_dump(UL_DUMP)
    assert [(c.aor, c.uri) for c in contacts] == [
        ("alice", "sip:alice@127.0.0.1:25080;ob"),
        ("bilal", "sip:bilal@10.0.0.8:5062"),
    ]
    assert contacts[0].expires_s == 298.0 and contacts[1].expires_s > 86400


def _alice(board: AgentBoard) -> tuple[str, bool, str | None]:
    status = next(s for s in board.status(time.monotonic()) if s.key == "alice")
    return status.state, status.registered, status.contact


def _wait_for(board: AgentBoard, want: tuple[str, bool], timeout_s: float) -> tuple:
    end = time.monotonic() + timeout_s
    seen = _alice(board)
    while time.monotonic() < end and seen[:2] != want:
        time.sleep(0.2)
        seen = _alice(board)
    return seen


def test_agent_phone_registers_and_the_board_marks_the_agent_available(tmp_path: Path) -> None:
    require_peers()
    if not KAMAILIO.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("kamailio (Debian package) not installed")
        pytest.skip("kamailio (Debian package) not installed")
    cfg = tmp_path / "settings.yml"
    # the phone has no password here (sip.agent_auth: tests/sip/test_agent_auth.py)
    cfg.write_text(
        "sip:\n  rtp_ports: 40\n  shutdown_grace_s: 5\n  acd: true\n  agent_auth: false\n"
    )
    var = tmp_path / "var"
    port, workers, rtp = free_port(), free_port(), free_port(40)
    env = {**os.environ, "VOICEBOT_CONFIG": str(cfg), "VOICEBOT_VAR": str(var)}
    env["PYTHONPATH"] = str(ROOT)
    serve = subprocess.Popen(
        [PYTHON, "-m", "voicebot.cli", "serve", "--demo", "--demo-record-dir",
         str(tmp_path / "calls"), "--port", str(port), "--workers", "1",
         "--worker-base-port", str(workers), "--rtp-base-port", str(rtp)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    phone = None
    try:
        assert serve.stdout is not None
        seen = ""
        while "answering SIP" not in seen and serve.poll() is None and seen.count("\n") < 50:
            seen += serve.stdout.readline()
        assert "answering SIP" in seen, seen
        board = AgentBoard(var / "acd.sqlite3", load_agents())
        assert _alice(board)[:2] == ("offline", False)
        report = tmp_path / "phone.json"
        phone_port = free_port()
        phone = subprocess.Popen(
            [PYTHON, str(HERE / "agent_phone.py"), "--user", "alice", "--registrar",
             f"127.0.0.1:{port}", "--port", str(phone_port), "--duration", "6",
             "--expires", "120", "--unregister", "--ready", str(tmp_path / "ready"),
             "--report", str(report)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
        )  # fmt: skip
        state, registered, contact = _wait_for(board, ("available", True), 8.0)
        assert (state, registered) == ("available", True)
        assert contact is not None and f"127.0.0.1:{phone_port}" in contact
        # bilal's phone never registered: still offline, never offered a call
        assert next(s for s in board.status(time.monotonic()) if s.key == "bilal").state == (
            "offline"
        )
        assert phone.wait(20) == 0
        assert json.loads(report.read_text())["registered"] is True
        # the phone unregistered (REGISTER, Expires: 0): the agent goes offline
        assert _wait_for(board, ("offline", False), 8.0)[:2] == ("offline", False)
    finally:
        if phone is not None and phone.poll() is None:
            phone.kill()
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            serve.wait(30)
    assert serve.returncode == 0
