"""Ringing an ACD agent with a whisper, over real SIP on 127.0.0.1.

``voicebot serve`` (Kamailio with ``sip.acd: true`` and one worker) runs the test handler
tests/sip/ring_handler.py, which calls :meth:`CallIO.ring_agent` for each call. The agent is
a real pjsua2 phone (tests/sip/agent_phone.py) registered to that Kamailio; the worker's
INVITE to ``sip:<user>@<proxy>`` reaches it through the location table. The whisper is
synthesized by the real Piper voice and the recordings are transcribed by the real Whisper.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import (
    HERE,
    PYTHON,
    ROOT,
    free_port,
    read_wav,
    require_peers,
    run_caller,
    start_serve,
    tone_share,
)

KAMAILIO = Path("/usr/sbin/kamailio")
WHISPER_TEXT = "Billing. Verified customer Alice Morgan. Says she was charged twice."
TONE_HZ = 1000.0


@dataclass
class Service:
    proc: subprocess.Popen[str]
    port: int
    folder: Path

    def result(self, caller: str, timeout_s: float = 15.0) -> dict:
        path = self.folder / "results" / f"{caller}.json"
        end = time.monotonic() + timeout_s
        while not path.exists() and time.monotonic() < end:
            time.sleep(0.1)
        assert path.exists(), f"the handler wrote no result for {caller}"
        return json.loads(path.read_text())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    require_peers()
    if not KAMAILIO.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("kamailio (Debian package) not installed")
        pytest.skip("kamailio (Debian package) not installed")
    from voicebot.config import load_settings
    from voicebot.tts import load_speaker

    folder = tmp_path_factory.mktemp("ring")
    pcm = load_speaker(load_settings()).speak(WHISPER_TEXT)
    (folder / "whisper.pcm").write_bytes(np.asarray(pcm, dtype="<i2").tobytes())
    port = free_port()
    started = start_serve(
        folder,
        "sip:\n  rtp_ports: 40\n  shutdown_grace_s: 5\n  media_timeout_s: 20\n  acd: true\n"
        "  agent_auth: false\n"  # phones without passwords (auth: tests/sip/test_agent_auth.py)
        "  handler: ring_handler:handle_call\n",
        demo=False,
        port=port,
        env={
            "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}",
            "VOICEBOT_TEST_AGENT_URI": f"sip:%s@127.0.0.1:{port}",
            "VOICEBOT_TEST_WHISPER": str(folder / "whisper.pcm"),
            "VOICEBOT_TEST_RESULTS": str(folder / "results"),
            "VOICEBOT_TEST_RING_S": "5",
        },
    )
    yield Service(started.proc, started.port, folder)
    started.stop(30)


@pytest.fixture(scope="module")
def whisper_asr():  # type: ignore[no-untyped-def]
    from voicebot.asr import load_engine
    from voicebot.config import load_settings

    return load_engine(load_settings())


def heard(asr, wav: Path) -> str:  # type: ignore[no-untyped-def]
    audio, rate = sf.read(str(wav), dtype="int16")
    return str(asr.transcribe(audio, sample_rate=rate).text).lower()


def tone_wav(path: Path, seconds: float = 12.0) -> Path:
    n = int(8000 * seconds)
    samples = (8000 * np.sin(2 * math.pi * TONE_HZ * np.arange(n) / 8000)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    return path


def agent_phone(service: Service, user: str, tmp: Path, *opts: str) -> subprocess.Popen[bytes]:
    """Start the agent's phone and wait until its REGISTER was accepted."""
    ready = tmp / f"{user}.ready"
    phone = subprocess.Popen(
        [PYTHON, str(HERE / "agent_phone.py"), "--user", user, "--registrar",
         f"127.0.0.1:{service.port}", "--port", str(free_port()), "--rtp-port",
         str(free_port(4)), "--duration", "40", "--unregister", "--ready", str(ready),
         "--report", str(tmp / f"{user}.json"), *opts],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp,
    )  # fmt: skip
    end = time.monotonic() + 10
    while not ready.exists():
        assert phone.poll() is None and time.monotonic() < end, "the agent phone did not register"
        time.sleep(0.05)
    return phone


def finish(phone: subprocess.Popen[bytes], tmp: Path, user: str) -> dict:
    try:
        phone.wait(45)
    finally:
        if phone.poll() is None:
            phone.kill()
    return json.loads((tmp / f"{user}.json").read_text())


def test_agent_hears_the_whisper_and_the_caller_does_not(
    service: Service,
    whisper_asr,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    agent_wav, caller_wav = tmp_path / "agent.wav", tmp_path / "caller.wav"
    phone = agent_phone(
        service, "alice", tmp_path, "--record", str(agent_wav), "--answer-after", "1",
        "--play", str(tone_wav(tmp_path / "tone.wav")), "--talk", "9",
    )  # fmt: skip
    caller = run_caller(
        tmp_path, f"sip:bot@127.0.0.1:{service.port}", user="alice", record=str(caller_wav),
        duration=20,
    )  # fmt: skip
    agent = finish(phone, tmp_path, "alice")
    result = service.result("alice")
    assert caller["connected"] and agent["answered"] == 1
    assert result["result"] == "answered" and result["bridged_s"] > 2, result
    agent_text = heard(whisper_asr, agent_wav)
    for word in ("billing", "alice", "twice"):  # "charged" is sometimes heard as "charge"
        assert word in agent_text, agent_text
    # the caller heard the agent (the tone) after the join, and nothing of the whisper
    caller_audio = read_wav(caller_wav)
    assert tone_share(caller_audio, TONE_HZ) > 0.8
    assert "charged" not in heard(whisper_asr, caller_wav) and "billing" not in heard(
        whisper_asr, caller_wav
    )
    # the whisper went to the agent before the join: the agent's first seconds are speech,
    # not the caller's audio; the tone the agent sends only reached the caller afterwards
    first = np.asarray(caller_audio[: 8000 * 2])
    assert np.abs(first).max() < 2000, "the caller heard something during the ringing"


def test_agent_pressing_star_during_the_whisper_refuses_the_call(
    service: Service, tmp_path: Path
) -> None:
    phone = agent_phone(
        service, "bilal", tmp_path, "--digits", "*", "--digits-at", "1.0", "--talk", "15",
    )  # fmt: skip
    caller = run_caller(
        tmp_path, f"sip:bot@127.0.0.1:{service.port}", user="bilal", duration=15,
    )  # fmt: skip
    agent = finish(phone, tmp_path, "bilal")
    assert caller["connected"] and agent["answered"] == 1
    assert service.result("bilal")["result"] == "refused"
    # the line hung up the agent's leg (BYE from the worker), not the phone itself
    assert not any(e["event"] == "agent-hangup" for e in agent["events"]), agent["events"]


def test_agent_who_does_not_answer_is_missed(service: Service, tmp_path: Path) -> None:
    phone = agent_phone(service, "chen", tmp_path, "--no-answer")
    caller = run_caller(
        tmp_path, f"sip:bot@127.0.0.1:{service.port}", user="chen", duration=15,
    )  # fmt: skip
    agent = finish(phone, tmp_path, "chen")
    result = service.result("chen")
    assert caller["connected"] and agent["calls"] == 1 and agent["answered"] == 0
    assert result["result"] == "missed" and 4.5 < result["ring_s"] < 8, result
    assert agent["last_code"] == 487  # the worker's CANCEL


def test_unregistered_agent_fails(service: Service, tmp_path: Path) -> None:
    caller = run_caller(
        tmp_path, f"sip:bot@127.0.0.1:{service.port}", user="dana", duration=8,
    )  # fmt: skip
    assert caller["connected"]
    assert service.result("dana")["result"] == "failed"  # Kamailio: 404 Agent Not Registered
