"""Real phone calls to the real voice pipeline on 127.0.0.1.

A pjsua2 caller in its own process rings a thin worker running ``voicebot.callhandler``,
which uses the host's speech service (Whisper, Piper) and dialog service (the trained Rasa
dialog with its action server, SQLite tracker store), as ``voicebot serve`` runs them; the
caller speaks a recorded request after the greeting, and records what it hears. The
recording is transcribed with Whisper and checked. A second call asks for billing and must
arrive at a SIPp "agent" with the context headers. A third call goes on while the speech
service is killed and restarted under it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from conftest import (  # tests/sip/conftest.py, as the other SIP tests import it
    PYTHON,
    ROOT,
    free_port,
    render,
    require_peers,
    run_caller,
    sipp,
    sipp_wait,
)

AUDIO = ROOT / "tests" / "audio"
GREETING_S = 9.0  # the caller waits this long for the greeting before speaking


def caller_wav(folder: Path, utterance: Path, name: str) -> Path:
    """Silence for the greeting, then the caller's recorded request (8 kHz PCM16)."""
    speech, rate = sf.read(str(utterance), dtype="int16")
    assert rate == 8000
    audio = np.concatenate([np.zeros(int(GREETING_S * rate), np.int16), speech])
    path = folder / f"{name}.wav"
    sf.write(str(path), audio, rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def voice_worker(
    tmp_path_factory: pytest.TempPathFactory, dialog_model: Path, frozen_now: str
) -> Iterator[tuple[str, int, Path, Any]]:
    from voicebot.config import load_settings
    from voicebot.dialog.action_server import ActionServer
    from voicebot.services.host import HostServices

    require_peers()
    folder = tmp_path_factory.mktemp("voice-sip")
    agent_port = free_port()
    departments = folder / "departments.yml"
    text = (ROOT / "voicebot" / "defaults" / "departments.yml").read_text()
    departments.write_text(text.replace("@127.0.0.1:5090", f"@127.0.0.1:{agent_port}"))
    # the departments' transfer addresses come from the action server: it reads this file
    action_endpoint = f"http://127.0.0.1:{free_port()}/webhook"
    actions = ActionServer(
        action_endpoint,
        env={
            "VOICEBOT_DEPARTMENTS": str(departments),
            "VOICEBOT_NOW": frozen_now,
            "VOICEBOT_VAR": str(folder),
            "VOICEBOT_DEMO_CUSTOMERS": "1",
        },
        log_path=folder / "actions.log",
    ).start(timeout_s=90, reuse=False)
    cfg = folder / "settings.yml"
    cfg.write_text(
        f"sip:\n  rtp_ports: 40\n  media_timeout_s: 20\n"
        f"dialog:\n  action_endpoint: {action_endpoint}\n"
        f"services:\n  speech_address: unix:{folder}/run/speech.sock\n"
        f"  dialog_address: unix:{folder}/run/dialog.sock\n"
        f"records:\n  url: sqlite:///{folder / 'records.sqlite3'}\n"
    )
    port, rtp, ready = free_port(), free_port(40), folder / "ready"
    env = {
        **os.environ,
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_DEPARTMENTS": str(departments),
        "VOICEBOT_NOW": frozen_now,
        "VOICEBOT_VAR": str(folder),
        "PYTHONPATH": str(ROOT),
    }
    services = HostServices(load_settings(cfg), folder / "services", env).start()
    log = folder / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "voicebot.telephony.worker", "--sip-address", "127.0.0.1",
             "--sip-port", str(port), "--rtp-port", str(rtp),
             "--handler", "voicebot.callhandler:handle_call", "--ready-file", str(ready)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
    deadline = time.monotonic() + 120  # a thin worker: connects to the services, no models
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            services.stop()
            pytest.fail(f"voice worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)
    yield f"127.0.0.1:{port}", agent_port, folder, services
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    services.stop()
    actions.stop()


@pytest.fixture(scope="module")
def whisper():  # type: ignore[no-untyped-def]
    from voicebot.asr import load_engine
    from voicebot.config import load_settings

    return load_engine(load_settings())


def heard(whisper, wav: Path) -> str:  # type: ignore[no-untyped-def]
    audio, rate = sf.read(str(wav), dtype="int16")
    return str(whisper.transcribe(audio, sample_rate=rate).text).lower()


def test_call_from_greeting_to_opening_hours(voice_worker, whisper) -> None:  # type: ignore[no-untyped-def]
    target, _, folder, _ = voice_worker
    play = caller_wav(folder, AUDIO / "silence_then_request" / "02.wav", "hours")
    record = folder / "hours-heard.wav"
    report = run_caller(
        folder, f"sip:bot@{target}", play=play, record=record, duration=24.0, user="0611111111"
    )
    assert any(e["event"] == "state" and e.get("code") == 200 for e in report["events"])
    audio, rate = sf.read(str(record), dtype="int16")
    greeting = heard(whisper, _slice(record, folder, 0.0, GREETING_S))
    answer = heard(whisper, _slice(record, folder, GREETING_S + 1.0, len(audio) / rate))
    assert "brightline" in greeting or "calling" in greeting, greeting
    assert "monday" in answer or "open" in answer, answer


def test_billing_call_is_transferred_with_context(voice_worker) -> None:  # type: ignore[no-untyped-def]
    target, agent_port, folder, _ = voice_worker
    agent = sipp(
        render("uas_agent.xml", folder), None, folder, server=True, port=agent_port,
        background=True, timeout_s=60,
    )  # fmt: skip
    time.sleep(0.3)
    play = caller_wav(folder, AUDIO / "billing_route" / "01.wav", "billing")
    report = run_caller(folder, f"sip:bot@{target}", play=play, duration=24.0, user="0622222222")
    res = sipp_wait(agent, timeout_s=60)  # type: ignore[arg-type]
    assert res.successful == 1, res.log[-3000:]
    assert "X-Voicebot-Intent: billing_question" in res.messages
    assert "X-Voicebot-Reason: routed" in res.messages
    refers = [e for e in report["events"] if e["event"] == "refer"]
    assert refers and "billing" in refers[0]["to"]
    # the worker wrote the call's record: caller, turn, hand-off and transfer result
    from voicebot.records.store import RecordStore

    store = RecordStore(f"sqlite:///{folder / 'records.sqlite3'}")
    deadline = time.monotonic() + 20
    while True:
        rows = store.list_calls(*_today(), limit=None)
        found = [c for c in rows if "0622222222" in (c["caller_id"] or "")]
        call = found[0] if found else None
        if (call and call["status"] == "ended") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert call is not None and call["status"] == "ended", found
    assert call["outcome"] == "routed" and call["department"] == "billing"
    assert call["transfer_result"] == "accepted" and call["handoff"]
    turns = store.call_turns(call["id"])
    assert turns and turns[0]["intent"] == "billing_question"


def _today() -> tuple[Any, Any]:
    from datetime import timedelta

    from voicebot.records.store import utcnow

    now = utcnow()
    return now - timedelta(days=1), now + timedelta(days=1)


def test_call_survives_a_speech_service_crash(voice_worker, whisper) -> None:  # type: ignore[no-untyped-def]
    """The speech service is killed (SIGKILL) during the greeting; ``voicebot serve``'s
    watcher starts it again and the call goes on: the caller's request, decoded once the
    service is back, is answered (one slow turn, no dropped call)."""
    import signal
    import threading

    target, _, folder, services = voice_worker
    speech = next(s for s in services.services if s.name == "speech")
    old_pid = speech.proc.pid

    def crash() -> None:
        time.sleep(4.0)  # connected, greeting on its way
        os.kill(old_pid, signal.SIGKILL)

    killer = threading.Thread(target=crash)
    killer.start()
    play = caller_wav(folder, AUDIO / "silence_then_request" / "02.wav", "crash")
    record = folder / "crash-heard.wav"
    report = run_caller(folder, f"sip:bot@{target}", play=play, record=record, duration=120.0)
    killer.join()
    assert any(e["event"] == "state" and e.get("code") == 200 for e in report["events"])
    assert speech.restarts >= 1 and speech.proc.pid != old_pid
    audio, rate = sf.read(str(record), dtype="int16")
    answer = heard(whisper, _slice(record, folder, GREETING_S + 1.0, len(audio) / rate))
    assert "monday" in answer or "open" in answer, answer


def _slice(wav: Path, folder: Path, start_s: float, end_s: float) -> Path:
    audio, rate = sf.read(str(wav), dtype="int16")
    part = folder / f"{wav.stem}-{start_s:.0f}-{end_s:.0f}.wav"
    sf.write(str(part), audio[int(start_s * rate) : int(end_s * rate)], rate, subtype="PCM_16")
    return part
