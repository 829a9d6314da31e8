"""A failure mid-call over real SIP: the action server dies, the caller is handed over.

A worker runs the real voice pipeline (Whisper, the trained dialog, Piper) with its own
real action server process. A pjsua2 caller rings, hears the greeting, and the action
server is stopped (SIGTERM) before the caller asks for the opening hours (a custom
action). The caller must hear the apology (Whisper on its recording) and be transferred
(REFER) to the default department, a SIPp "agent" that checks the context headers:
``X-Voicebot-Reason: technical_error``. The hand-off record was written before.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf
from conftest import PYTHON, ROOT, free_port, render, require_peers, run_caller, sipp, sipp_wait
from test_voice_calls import AUDIO, GREETING_S, _slice, caller_wav, heard

KILL_AFTER_S = 6.0  # after the caller starts: the greeting is done, the request not yet said


@pytest.fixture(scope="module")
def whisper():  # type: ignore[no-untyped-def]
    from voicebot.asr import load_engine
    from voicebot.config import load_settings

    return load_engine(load_settings())


@pytest.fixture(scope="module")
def failing_worker(
    tmp_path_factory: pytest.TempPathFactory, dialog_model: Path, frozen_now: str
) -> Iterator[tuple[str, int, Path, object]]:
    from voicebot.dialog.action_server import ActionServer

    require_peers()
    folder = tmp_path_factory.mktemp("voice-fail-sip")
    agent_port = free_port()
    departments = folder / "departments.yml"
    text = (ROOT / "voicebot" / "defaults" / "departments.yml").read_text()
    departments.write_text(text.replace("@127.0.0.1:5090", f"@127.0.0.1:{agent_port}"))
    action_endpoint = f"http://127.0.0.1:{free_port()}/webhook"
    actions = ActionServer(
        action_endpoint,
        env={
            "VOICEBOT_DEPARTMENTS": str(departments),
            "VOICEBOT_NOW": frozen_now,
            "VOICEBOT_VAR": str(folder / "actions-var"),
            "VOICEBOT_DEMO_CUSTOMERS": "1",
        },
        log_path=folder / "actions.log",
    )
    (folder / "actions-var").mkdir()
    actions.start(timeout_s=90, reuse=False)
    cfg = folder / "settings.yml"
    cfg.write_text(
        f"sip:\n  rtp_ports: 40\n  media_timeout_s: 20\n"
        f"dialog:\n  action_endpoint: {action_endpoint}\n"
        # the worker loads the models itself (the in-process mode): this test stops the
        # action server, which both modes use; test_voice_calls.py covers the shared services
        "services:\n  mode: inprocess\n"
    )
    port, rtp, ready = free_port(), free_port(40), folder / "ready"
    env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_DEPARTMENTS": str(departments),
        "VOICEBOT_NOW": frozen_now,
        "VOICEBOT_VAR": str(folder / "var"),
        "PYTHONPATH": str(ROOT),
    }
    log = folder / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "voicebot.telephony.worker", "--sip-address", "127.0.0.1",
             "--sip-port", str(port), "--rtp-port", str(rtp),
             "--handler", "voicebot.callhandler:handle_call", "--ready-file", str(ready)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
    deadline = time.monotonic() + 1200  # loads Rasa, Whisper and Piper (slow on a busy box)
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            actions.stop()
            pytest.fail(f"voice worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)
    yield f"127.0.0.1:{port}", agent_port, folder, actions
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    actions.stop()


def test_action_server_dies_mid_call_caller_is_handed_over(failing_worker, whisper) -> None:  # type: ignore[no-untyped-def]
    target, agent_port, folder, actions = failing_worker
    agent = sipp(
        render("uas_agent.xml", folder), None, folder, server=True, port=agent_port,
        background=True, timeout_s=90,
    )  # fmt: skip
    time.sleep(0.3)
    play = caller_wav(folder, AUDIO / "silence_then_request" / "02.wav", "hours-fail")
    record = folder / "fail-heard.wav"
    killer = threading.Timer(KILL_AFTER_S, actions.stop)  # type: ignore[attr-defined]
    killer.start()
    try:
        report = run_caller(
            folder, f"sip:bot@{target}", play=play, record=record, duration=30.0,
            user="0633333333",
        )  # fmt: skip
    finally:
        killer.cancel()
    res = sipp_wait(agent, timeout_s=90)  # type: ignore[arg-type]
    log = (folder / "worker.log").read_text(errors="replace")
    assert res.successful == 1, res.log[-3000:] + log[-3000:]
    assert "X-Voicebot-Reason: technical_error" in res.messages
    refers = [e for e in report["events"] if e["event"] == "refer"]
    assert refers and "customer_service" in refers[0]["to"], report["events"]
    # the record was written (before the REFER: the session writes it first)
    records = [
        json.loads(line)
        for line in (folder / "var" / "handoffs.jsonl").read_text().splitlines()
        if line.strip()
    ]
    assert [r["reason"] for r in records] == ["technical_error"]
    assert records[0]["sip_call_id"] and records[0]["call_id"].startswith("c-")
    # the caller heard the greeting, then the apology: never silence
    audio, rate = sf.read(str(record), dtype="int16")
    greeting = heard(whisper, _slice(record, folder, 0.0, GREETING_S))
    rest = heard(whisper, _slice(record, folder, GREETING_S, len(audio) / rate))
    assert "brightline" in greeting or "calling" in greeting, greeting
    assert "sorry" in rest and "colleague" in rest, rest
