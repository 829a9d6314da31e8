"""The department queue on a live call, over real SIP on 127.0.0.1.

``voicebot serve`` (Kamailio with ``sip.acd: true``, one worker) runs tests/sip/
queue_handler.py: each call is handed off to ``billing`` through the built-in ACD as the
call handler does it (the Rasa dialog before the hand-off is left out, see that module).
Agents (tests' own agents.yml: alice and bilal in billing) are real pjsua2 phones
registered to that Kamailio; announcements and the whisper are spoken by the real Piper
voice and the recordings transcribed by the real Whisper; outcomes are read from the real
agent board (``var/acd.sqlite3``) the supervisor and the worker share.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile as sf
from conftest import HERE, PYTHON, ROOT, free_port, require_peers, run_caller, start_serve

from voicebot.center.agents import load_agents
from voicebot.center.board import AgentBoard

KAMAILIO = Path("/usr/sbin/kamailio")
AGENTS = """acd:
  ring_timeout_s: 5
  wrap_up_s: 4
  announce_every_s: 30
  max_wait_s: 120
agents:
  alice:
    name: Alice Morgan
    sip_user: alice
    departments: [billing]
  bilal:
    name: Bilal Khan
    sip_user: bilal
    departments: [billing]
"""


@dataclass
class Service:
    proc: subprocess.Popen[str]
    port: int
    folder: Path

    def result(self, caller: str, timeout_s: float = 20.0) -> dict:
        path = self.folder / "results" / f"{caller}.json"
        end = time.monotonic() + timeout_s
        while not path.exists() and time.monotonic() < end:
            time.sleep(0.1)
        assert path.exists(), f"the handler wrote no result for {caller}"
        return json.loads(path.read_text())

    def board(self) -> AgentBoard:
        return AgentBoard(self.folder / "var" / "acd.sqlite3", load_agents(self.folder / "a.yml"))

    def queue_rows(self) -> list[tuple[str, str, str | None]]:
        with sqlite3.connect(self.folder / "var" / "acd.sqlite3") as db:
            return list(db.execute("SELECT call_ref, state, agent FROM queue ORDER BY joined_at"))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    require_peers()
    if not KAMAILIO.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("kamailio (Debian package) not installed")
        pytest.skip("kamailio (Debian package) not installed")
    folder = tmp_path_factory.mktemp("queue")
    (folder / "a.yml").write_text(AGENTS)
    started = start_serve(
        folder,
        "sip:\n  rtp_ports: 40\n  shutdown_grace_s: 5\n  media_timeout_s: 20\n  acd: true\n"
        "  agent_auth: false\n"  # phones without passwords (auth: tests/sip/test_agent_auth.py)
        "  handler: queue_handler:handle_call\n",
        demo=False,
        env={
            "VOICEBOT_AGENTS": str(folder / "a.yml"),
            "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}",
            "VOICEBOT_TEST_RESULTS": str(folder / "results"),
        },
    )
    yield Service(started.proc, started.port, folder)
    started.stop(30)


@pytest.fixture(scope="module")
def asr():  # type: ignore[no-untyped-def]
    from voicebot.asr import load_engine
    from voicebot.config import load_settings

    return load_engine(load_settings())


def heard(asr, wav: Path) -> str:  # type: ignore[no-untyped-def]
    audio, rate = sf.read(str(wav), dtype="int16")
    return str(asr.transcribe(audio, sample_rate=rate).text).lower()


def test_caller_who_hangs_up_in_the_queue_is_abandoned(service: Service, tmp_path: Path) -> None:
    caller = run_caller(
        tmp_path, f"sip:bot@127.0.0.1:{service.port}", user="0611111111", duration=3
    )
    assert caller["connected"]
    assert service.result("0611111111")["transfer"] == "failed"
    assert [row[1] for row in service.queue_rows()] == ["abandoned"]


def test_nobody_free_caller_hears_position_then_leaves_a_message(
    service: Service,
    asr,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    wav = tmp_path / "caller.wav"
    caller = run_caller(
        tmp_path, f"sip:bot@127.0.0.1:{service.port}", user="0622222222", record=str(wav),
        digits="1", digits_at=16, duration=19,
    )  # fmt: skip
    assert caller["connected"]
    # "no_answer": the session goes on to take the message, as after a failed transfer
    assert service.result("0622222222")["transfer"] == "no_answer"
    assert service.queue_rows()[-1][1] == "message"
    text = heard(asr, wav)
    assert "first in the queue" in text and "message" in text, text


def test_free_agent_is_rung_hears_the_whisper_and_takes_the_call(
    service: Service,
    asr,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    ready, report, wav = tmp_path / "ready", tmp_path / "alice.json", tmp_path / "alice.wav"
    phone = subprocess.Popen(
        [PYTHON, str(HERE / "agent_phone.py"), "--user", "alice", "--registrar",
         f"127.0.0.1:{service.port}", "--port", str(free_port()), "--rtp-port",
         str(free_port(4)), "--duration", "40", "--unregister", "--ready", str(ready),
         "--report", str(report), "--record", str(wav), "--answer-after", "1", "--talk", "16"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    try:
        board = service.board()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            alice = next(s for s in board.status(time.monotonic()) if s.key == "alice")
            if alice.state == "available" and alice.registered:
                break
            time.sleep(0.2)
        assert alice.state == "available", alice
        caller = run_caller(
            tmp_path, f"sip:bot@127.0.0.1:{service.port}", user="0633333333", duration=30
        )
        phone.wait(45)
    finally:
        if phone.poll() is None:
            phone.kill()
    assert caller["connected"] and json.loads(report.read_text())["answered"] == 1
    assert service.result("0633333333")["transfer"] == "accepted"
    assert service.queue_rows()[-1][1:] == ("answered", "alice")
    alice = next(s for s in service.board().status(time.monotonic()) if s.key == "alice")
    assert alice.calls == 1 and alice.talk_s > 3
    text = heard(asr, wav)
    assert "billing" in text and "alice morgan" in text and "twice" in text, text


def _phone(service: Service, user: str, tmp: Path, *opts: str) -> subprocess.Popen[bytes]:
    ready = tmp / f"{user}.ready"
    phone = subprocess.Popen(
        [PYTHON, str(HERE / "agent_phone.py"), "--user", user, "--registrar",
         f"127.0.0.1:{service.port}", "--port", str(free_port()), "--rtp-port",
         str(free_port(4)), "--duration", "40", "--unregister", "--ready", str(ready),
         "--report", str(tmp / f"{user}.json"), *opts],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp,
    )  # fmt: skip
    board = service.board()
    end = time.monotonic() + 10  # a wrap-up (4 s) from the test before survives re-REGISTER
    while time.monotonic() < end:
        status = next(s for s in board.status(time.monotonic()) if s.key == user)
        if status.state == "available" and status.registered:
            return phone
        time.sleep(0.2)
    phone.kill()
    raise AssertionError(f"{user} never became available on the board")


def test_longest_idle_agent_is_rung_first_and_one_who_does_not_answer_is_missed(
    service: Service, tmp_path: Path
) -> None:
    """alice registers first (idle longest) but lets it ring: after ring_timeout_s (5 s) she
    is marked missed (paused) and bilal, idle for less time, is rung and answers."""
    alice = _phone(service, "alice", tmp_path, "--no-answer")
    time.sleep(1.0)
    bilal = _phone(service, "bilal", tmp_path, "--answer-after", "0.5", "--talk", "6")
    try:
        caller = run_caller(
            tmp_path, f"sip:bot@127.0.0.1:{service.port}", user="0644444444", duration=25
        )
        for phone in (alice, bilal):
            phone.wait(45)
    finally:
        for phone in (alice, bilal):
            if phone.poll() is None:
                phone.kill()
    a_report = json.loads((tmp_path / "alice.json").read_text())
    b_report = json.loads((tmp_path / "bilal.json").read_text())
    assert caller["connected"]
    assert a_report["calls"] == 1 and a_report["answered"] == 0 and a_report["last_code"] == 487
    assert b_report["calls"] == 1 and b_report["answered"] == 1
    assert service.result("0644444444")["transfer"] == "accepted"
    assert service.queue_rows()[-1][1:] == ("answered", "bilal")
    status = {s.key: s for s in service.board().status(time.monotonic())}
    assert status["alice"].missed == 1 and status["bilal"].calls == 1
    with sqlite3.connect(service.folder / "var" / "acd.sqlite3") as db:
        offers = list(
            db.execute(
                "SELECT agent, result FROM offers WHERE call_ref = ("
                "SELECT call_ref FROM queue ORDER BY joined_at DESC LIMIT 1) ORDER BY id"
            )
        )
    assert offers == [("alice", "missed"), ("bilal", "answered")]
