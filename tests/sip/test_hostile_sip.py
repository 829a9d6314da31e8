"""Hostile SIP and RTP against a real ``voicebot serve --demo`` (Kamailio + a pjsua2 worker).

Fast versions of bench/sip_soak.py steps 1 and 2: a few hundred malformed SIP messages over
UDP and TCP (to Kamailio's public port and straight to the worker) while real SIPp calls are
in progress, and garbage RTP on a live call. Every process must survive, every call in
progress must end normally (the bot hangs up on the caller's '#'), and a fresh call must
still work afterwards.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import (
    PCAP_DIR,
    SCENARIOS,
    SPEECH_WAV,
    free_port,
    read_wav,
    render,
    require_peers,
    sipp,
    sipp_wait,
    start_serve,
    wait_report,
)
from rawcall import RawCall, garbage_phases
from sipfuzz import (
    HOSTILE_INFO,
    Fuzzer,
    Mutator,
    alive,
    captured_messages,
    long_call_media,
    long_lived,
    scenario_seeds,
)

KAMAILIO = Path("/usr/sbin/kamailio")
KAMAILIO_ALLOWED = (
    (
        r"<core> \[core/parser/",
        "the malformed requests and replies this module sends on purpose: Kamailio's SIP "
        "parser logs an ERROR for each one it drops (bad Via, Content-Length, header names...)",
    ),
    (
        r"<core> \[core/(receive|msg_translator)\.c:\d+\]: "
        r"(receive_msg|build_res_buf_from_sip_req)\(\)",
        "the same malformed messages, dropped by receive_msg (no reply can be built for them)",
    ),
    (
        r"<core> \[core/tcp_read\.c:\d+\]",
        "the oversized (buffer overrun), malformed and reset TCP streams this module sends",
    ),
    (
        r"(maxfwd|sanity) \[(mf_funcs|sanity)\.c:\d+\]",
        "the config's mf_process_maxfwd_header/sanity_check calls on those malformed requests",
    ),
)
"""Kamailio ERROR lines this module provokes on purpose (tests/_kamailio_log.py)."""
SHARED_SCENARIOS = PCAP_DIR.parent


@dataclass
class Service:
    proc: subprocess.Popen[str]
    port: int
    record_dir: Path
    var: Path
    log: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def worker(self) -> tuple[int, int]:
        """(pid, SIP port) of worker-0, from its ready file."""
        info = json.loads((self.var / "sip" / "worker-0.ready").read_text())
        return int(info["pid"]), int(info["port"])

    def processes(self) -> dict[int, str]:
        return long_lived(self.proc.pid)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    require_peers()
    if not KAMAILIO.exists():
        pytest.skip("kamailio (Debian package) not installed")
    folder = tmp_path_factory.mktemp("hostile")
    log = folder / "serve.log"
    started = start_serve(
        folder,
        "sip:\n  rtp_ports: 40\n  shutdown_grace_s: 5\n  media_timeout_s: 20\n",
        workers=1,
        log=log,
    )
    yield Service(started.proc, started.port, started.record_dir, started.var, log)
    started.stop(30)


def fresh_call_works(service: Service, folder: Path, within_s: float = 60.0) -> bool:
    """A normal call (speech, digits, BYE) succeeds; retried while fuzzed INVITEs that were
    answered but never ACKed still hold the worker's call slots (they time out in 32 s)."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        res = sipp(render("uac_speech_dtmf.xml", folder, SPEECH_MS="500"), service.target, folder)
        if res.returncode == 0 and res.successful == 1:  # type: ignore[union-attr]
            return True
        time.sleep(3)
    return False


def test_fuzzed_sip_while_calls_are_in_progress(service: Service, tmp_path: Path) -> None:
    before = service.processes()
    worker_pid, worker_port = service.worker()
    assert worker_pid in before and sum("kamailio" in c for c in before.values()) >= 2
    # seeds: real messages of a real call through the service, and the SIPp scenarios'
    first = sipp(render("uac_speech_dtmf.xml", tmp_path, SPEECH_MS="300"), service.target, tmp_path)
    assert first.successful == 1, first.log[-2000:]  # type: ignore[union-attr]
    trace = next(tmp_path.glob("*.msg"))
    fuzz_port = free_port()
    seeds = captured_messages(trace)
    assert any(s.startswith(b"SIP/2.0 200") and b"m=audio" in s for s in seeds)
    files = [*SCENARIOS.glob("*.xml"), *SHARED_SCENARIOS.glob("*/*.xml")]
    kam, worker = ("127.0.0.1", service.port), ("127.0.0.1", worker_port)
    seeds += scenario_seeds(files, kam, fuzz_port, free_port())
    assert len(seeds) > 50
    n_before = len(list(service.record_dir.glob("*.json")))
    calls = sipp(
        render("uac_wait_bye.xml", tmp_path, MEDIA=long_call_media(PCAP_DIR)),
        service.target,
        tmp_path,
        calls=2,
        rate=10,
        timeout_s=40,
        background=True,
    )
    time.sleep(1.5)  # both calls up
    fuzzer = Fuzzer(Mutator(seeds, seed=11), fuzz_port)
    try:
        fuzzer.send([kam, kam, kam, worker], count=300, rate=100, tcp_share=0.3)
        time.sleep(0.5)
    finally:
        fuzzer.close()
    stats = fuzzer.stats.as_dict()
    done = sipp_wait(calls)  # type: ignore[arg-type]
    assert done.returncode == 0 and done.successful == 2 and done.failed == 0, done.log[-3000:]
    assert stats["sent"] == 300 and stats["sent_tcp"] > 50, stats
    assert len(stats["by_mutation"]) >= 12, stats  # every kind of damage was sent
    replies = stats["responses_by_status"]
    assert sum(v for k, v in replies.items() if k.startswith("4")) > 10, stats  # parsed, refused
    # the two calls in progress: the bot heard the whole speech and hung up on '#'
    deadline = time.monotonic() + 10
    while (
        len(list(service.record_dir.glob("*.json"))) < n_before + 2 and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    reports = [json.loads(p.read_text()) for p in service.record_dir.glob("*.json")]
    held = [r for r in reports if r["caller_id"] == "0699999999"]
    assert len(held) == 2
    for r in held:
        assert [d["digit"] for d in r["digits"]] == ["#"], r
        assert r["close_reason"] == "bot hung up" and r["frames"] >= 300, r
    # nobody died, nobody was restarted, and the line still takes calls
    assert all(alive(p) for p in before), (before, service.log.read_text()[-2000:])
    assert service.worker()[0] == worker_pid
    assert "restarting" not in service.log.read_text()
    assert fresh_call_works(service, tmp_path)


def test_garbage_rtp_on_a_live_call(service: Service, tmp_path: Path) -> None:
    from voicebot.audio.codecs import alaw_encode

    worker_pid, _ = service.worker()
    speech = alaw_encode(read_wav(SPEECH_WAV))[: 8000 * 2]  # 2 s of real speech, A-law
    call = RawCall(("127.0.0.1", service.port), free_port(), free_port(2))
    try:
        assert call.invite() == 200
        assert call.remote_rtp is not None and call.route  # through Kamailio's Record-Route
        call.send_audio(speech[:8000])
        phases = {}
        for phase, sent in garbage_phases(call, random.Random(5), scale=0.5):
            phases[phase] = sent
            assert alive(worker_pid), phase
        assert len(phases) == 7 and phases["bursts"] >= 1500
        heard_before = call.rtp_in
        call.send_audio(speech[8000:])  # back to normal: 1 s of speech
        assert call.rtp_in > heard_before + 20  # the bot's audio kept coming
        assert call.bye_at is None  # the call is still up
        call.send_digit(11)  # '#': the demo bot hangs up
        assert call.wait_bye(5.0), "the bot did not react to '#' after the garbage"
    finally:
        call.close()
    report = wait_report(service.record_dir, call.call_id.split("@")[0])
    assert [d["digit"] for d in report["digits"]] == ["#"]
    assert report["close_reason"] == "bot hung up"
    assert report["frames"] >= 100  # speech before and after the garbage got through
    assert alive(worker_pid) and service.worker()[0] == worker_pid
    assert "restarting" not in service.log.read_text()


def test_hostile_requests_inside_a_live_dialog(service: Service, tmp_path: Path) -> None:
    """INFO bodies that are too long or not DTMF, requests the bot does not handle, a BYE
    for another dialog: the call goes on and the bot still hangs up on an INFO '#'."""
    worker_pid, _ = service.worker()
    call = RawCall(("127.0.0.1", service.port), free_port(), free_port(2))
    try:
        assert call.invite() == 200
        cseq = 10
        for body in HOSTILE_INFO:
            call.request("INFO", body, "application/dtmf-relay", cseq=cseq)
            cseq += 1
            time.sleep(0.1)
        for method, body, ctype in [
            ("OPTIONS", b"", ""),
            ("MESSAGE", bytes(range(256)) * 4, "text/plain"),
            ("NOTIFY", b"SIP/2.0 200 OK\r\n", "message/sipfrag"),
            ("UPDATE", b"v=0\r\nm=audio 0 RTP/AVP 255\r\n", "application/sdp"),
            ("FOO", b"bar", "x/y"),
        ]:
            call.request(method, body, ctype, cseq=cseq)
            cseq += 1
        call.request("BYE", cseq=cseq, to_tag="not-this-dialog")
        time.sleep(1.0)
        assert call.bye_at is None and alive(worker_pid)
        codes = [code for code, _ in call.responses]
        assert 413 in codes and len(codes) >= len(HOSTILE_INFO) + 4, call.responses
        call.send_audio(alaw_speech(1.0))
        call.request("INFO", b"Signal=#\r\nDuration=160\r\n", "application/dtmf-relay", cseq=99)
        assert call.wait_bye(5.0), "the bot did not hang up on '#'"
    finally:
        call.close()
    report = wait_report(service.record_dir, call.call_id.split("@")[0])
    digits = [d["digit"] for d in report["digits"]]
    assert digits[-1] == "#" and all(d in "0123456789*#ABCD" for d in digits), digits
    assert alive(worker_pid) and service.worker()[0] == worker_pid
    assert "restarting" not in service.log.read_text()


def alaw_speech(seconds: float) -> bytes:
    from voicebot.audio.codecs import alaw_encode

    return alaw_encode(read_wav(SPEECH_WAV))[: int(8000 * seconds)]
