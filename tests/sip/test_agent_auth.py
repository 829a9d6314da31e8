"""Agents' phones authenticate to the service's registrar, and pause/resume by keypad code.

``voicebot serve`` (Kamailio as the agents' registrar with ``sip.agent_auth`` on, the
default; one worker running tests/sip/queue_handler.py) and real pjsua2 phones
(tests/sip/agent_phone.py): REGISTER is challenged (401) and checked against the agent's
password in the agents file; an unknown user, a wrong password or a password of another
agent gets 403. An agent dials ``*41`` / ``*42`` from their registered phone (the INVITE is
challenged with 407 and authenticated too): the worker pauses / resumes them on the real
agent board and speaks a confirmation (real Piper), which the phone records and the real
Whisper transcribes.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf
from acd_service import AcdService, acd_service

from voicebot.center.agents import load_agents
from voicebot.telephony.agentauth import AgentAccess, ha1
from voicebot.telephony.kamailio import render_config, workers_of
from voicebot.telephony.settings import SipSettings

PASSWORDS = {"alice": "alice-Secret-41", "bilal": "bilal-Secret-42"}
AGENTS = f"""acd:
  ring_timeout_s: 4
  pause_code: "*41"
  resume_code: "*42"
agents:
  alice: {{name: Alice Morgan, sip_user: alice, departments: [billing],
           password: {PASSWORDS["alice"]}}}
  bilal: {{name: Bilal Khan, sip_user: bilal, departments: [billing],
           password: {PASSWORDS["bilal"]}}}
  chen: {{name: Chen Li, sip_user: chen, departments: [billing]}}
"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AcdService]:
    with acd_service(tmp_path_factory.mktemp("auth"), AGENTS) as service:
        yield service


@pytest.fixture(scope="module")
def asr():  # type: ignore[no-untyped-def]
    from voicebot.asr import load_engine
    from voicebot.config import load_settings

    return load_engine(load_settings())


def test_generated_config_keeps_the_network_check_before_auth(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(AGENTS)
    access = AgentAccess.from_roster(load_agents(tmp_path / "a.yml"), require_auth=True)
    assert set(access.ha1) == {"alice", "bilal"}  # chen has no password: cannot register
    assert "Secret" not in repr(access)
    sip = SipSettings(acd=True)
    text = render_config(sip, workers_of(sip), tmp_path / "d.list", tmp_path / "c.sock", access)
    assert text.index("is_in_subnet") < text.index("route(AGENT_AUTH)")
    assert ha1("alice", PASSWORDS["alice"]) in text
    assert all(p not in text for p in PASSWORDS.values())


def _register(svc: AcdService, tmp: Path, name: str, user: str, *opts: str, **kw: str) -> dict:
    path = svc.phone(user, tmp / name, *opts, "--duration", "4", wait_state="", **kw)
    svc.stop_phones(30)
    return json.loads(path.read_text())


def test_register_needs_the_agents_own_password(svc: AcdService, tmp_path: Path) -> None:
    for name in ("ok", "wrong", "unknown", "other", "none"):
        (tmp_path / name).mkdir()
    ok = _register(svc, tmp_path, "ok", "alice")
    assert ok["registered"] and ok["reg_codes"][0] == 200, ok["reg_codes"]
    wrong = _register(svc, tmp_path, "wrong", "bilal", password="not-bilals-pw")
    assert not wrong["registered"] and wrong["reg_codes"][0] == 403, wrong["reg_codes"]
    unknown = _register(svc, tmp_path, "unknown", "mallory", password="whatever-pw")
    assert not unknown["registered"] and unknown["reg_codes"][0] == 403
    # bilal's own password, but registering alice's address: the user names must match
    other = _register(
        svc, tmp_path, "other", "alice", "--auth-user", "bilal", password=PASSWORDS["bilal"]
    )
    assert not other["registered"] and other["reg_codes"][0] == 403, other["reg_codes"]
    none = _register(svc, tmp_path, "none", "bilal", password="")
    assert not none["registered"] and none["reg_codes"][0] == 401, none["reg_codes"]
    status = svc.status()
    assert not status["bilal"].registered and status["bilal"].state == "offline"
    # the secrets are in no log and not in clear in the generated config (owner-only)
    kam = svc.folder / "var" / "sip" / "kamailio"
    cfg = kam / "kamailio.cfg"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    texts = [cfg.read_text(), (kam / "kamailio.log").read_text(errors="replace")]
    texts += [p.read_text(errors="replace") for p in svc.folder.rglob("*.log")]
    for secret in PASSWORDS.values():
        assert all(secret not in t for t in texts)


def _dial(svc: AcdService, tmp: Path, code: str, at_s: str) -> tuple[dict, Path]:
    wav = tmp / f"{code[1:]}.wav"
    report = svc.phone(
        "alice", tmp, "--dial", f"sip:{code}@127.0.0.1:{svc.port}", "--dial-at", at_s,
        "--record", str(wav), "--talk", "20", "--duration", "30", wait_state="",
    )  # fmt: skip
    svc.stop_phones(40)
    return json.loads(report.read_text()), wav


def test_agent_pauses_and_resumes_by_keypad_code(
    svc: AcdService,
    asr,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    # dialled at once, before the board saw the registration: an offline agent may pause
    paused, pause_wav = _dial(svc, tmp_path / "p", "*41", "0.5")
    assert paused["registered"] and paused.get("dialled"), paused
    assert svc.status()["alice"].state == "paused"
    # the worker hung up after the confirmation (not the phone's --talk limit)
    assert not any(e["event"] == "agent-hangup" for e in paused["events"]), paused["events"]
    audio, rate = sf.read(str(pause_wav), dtype="int16")
    text = str(asr.transcribe(audio, sample_rate=rate).text).lower()
    assert "paused" in text, text
    # the phone unregistered at its end: alice stays paused (not offline)
    assert svc.wait_state("alice", "offline", timeout_s=3).state == "paused"
    # resuming needs a registered phone: dialled once the board saw it (synced every 2 s)
    resumed, resume_wav = _dial(svc, tmp_path / "r", "*42", "5")
    assert resumed.get("dialled")
    # the phone unregistered at its end: alice is offline now, but she was made available
    # (a paused agent would have stayed paused through the unregister)
    status = svc.status()["alice"]
    assert status.state == "offline" and not status.registered, status
    audio, rate = sf.read(str(resume_wav), dtype="int16")
    text = str(asr.transcribe(audio, sample_rate=rate).text).lower()
    assert "available" in text, text
