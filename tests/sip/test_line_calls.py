"""Real calls into one worker process (demo handler) from SIPp and a pjsua2 caller."""

from __future__ import annotations

import re
import socket
import time
import uuid
from pathlib import Path

from conftest import (
    SPEECH_WAV,
    Worker,
    frame_dbfs,
    read_wav,
    render,
    run_caller,
    sipp,
    sipp_wait,
    start_worker,
    tone_share,
)


def _call_id(messages: str) -> str:
    m = re.search(r"^Call-ID:\s*(\S+)", messages, re.M | re.I)
    assert m, "no Call-ID in the SIPp trace"
    return m.group(1)


def test_speech_and_digits_reach_the_handler(worker: Worker, sip_dir: Path) -> None:
    scenario = render("uac_speech_dtmf.xml", sip_dir, SPEECH_MS="3000")
    res = sipp(scenario, worker.target, sip_dir)
    assert res.returncode == 0 and res.successful == 1, res.log[-2000:]
    report = worker.report_for(_call_id(res.messages))
    assert [d["digit"] for d in report["digits"]] == ["1", "2", "3", "5"]
    assert [d["method"] for d in report["digits"]] == ["rfc4733"] * 3 + ["sip-info"]
    assert report["caller_id"] == "0612345678"
    assert report["close_reason"] == "caller hung up"
    # ~4.5 s of call: 20 ms frames, and the caller's speech is in them
    assert report["frames"] >= 180
    stem = report["call_id"].replace("@", "_")
    levels = frame_dbfs(read_wav(worker.record_dir / f"{stem}.wav"))
    loud = [x for x in levels if x > -35.0]
    assert len(loud) >= 25, f"only {len(loud)} speech frames; max {max(levels):.1f} dBFS"
    assert report["plays"] and report["plays"][0]["played_ms"] >= 1000


def test_offer_without_g711_gets_488_and_line_goes_on(worker: Worker, sip_dir: Path) -> None:
    res = sipp(render("uac_unsupported_codec.xml", sip_dir), worker.target, sip_dir)
    assert res.returncode == 0 and res.successful == 1, res.log[-2000:]
    assert "SIP/2.0 488" in res.messages
    res = sipp(render("uac_malformed_sdp.xml", sip_dir), worker.target, sip_dir)
    assert res.returncode == 0, res.log[-2000:]
    assert re.search(r"SIP/2.0 (400|488)", res.messages)
    _assert_still_serving(worker, sip_dir)


def test_garbage_datagrams_do_not_hurt(worker: Worker, sip_dir: Path) -> None:
    """Broken SIP over UDP and TCP: answered 400 or dropped, and the next call works."""
    junk = [
        b"\x00\xff" * 300,
        b"INVITE sip:bot@127.0.0.1 SIP/2.0\r\nVia: nonsense\r\nCSeq: x\r\n\r\n",
        b"INVITE sip:bot@127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n\r\nv=0",
        (
            b"INVITE sip:bot@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:bot@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
            b"Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\n\x01\x02\x03\x04\x05"
        ),
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for data in junk:
            s.sendto(data, ("127.0.0.1", worker.port))
    for data in junk[1:]:
        with socket.create_connection(("127.0.0.1", worker.port), 2) as t:
            t.sendall(data)
            time.sleep(0.05)
    time.sleep(0.3)
    assert worker.proc.poll() is None
    _assert_still_serving(worker, sip_dir)


def _assert_still_serving(worker: Worker, sip_dir: Path) -> None:
    res = sipp(render("uac_speech_dtmf.xml", sip_dir, SPEECH_MS="500"), worker.target, sip_dir)
    assert res.returncode == 0 and res.successful == 1, res.log[-2000:]


def test_pjsua2_caller_hears_prompt_and_is_heard(worker: Worker, sip_dir: Path) -> None:
    heard = sip_dir / f"heard-{uuid.uuid4().hex[:4]}.wav"
    report = run_caller(
        sip_dir,
        f"sip:bot@{worker.target}",
        play=SPEECH_WAV,
        record=heard,
        digits="4",
        info_digits="7",
        digits_at=2.0,
        duration=4.0,
        user="0611111111",
    )
    assert report["connected"]
    # The demo prompt: three 880 Hz beeps in the first second and a half.
    samples = read_wav(heard)
    assert tone_share(samples[: 8000 * 2], 880.0) > 0.8
    assert max(frame_dbfs(samples[: 8000 * 2])) > -25.0
    bot = _report_of(worker, "0611111111")
    assert {d["digit"]: d["method"] for d in bot["digits"]} == {"4": "rfc4733", "7": "sip-info"}
    levels = frame_dbfs(read_wav(worker.record_dir / (bot["call_id"].replace("@", "_") + ".wav")))
    assert len([x for x in levels if x > -35.0]) >= 25  # the caller's speech reached the bot


def _report_of(worker: Worker, caller_id: str, timeout_s: float = 10.0) -> dict:
    """The demo report of the call from ``caller_id`` (each test calls as its own user)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        found = [r for r in worker.reports() if r["caller_id"] == caller_id]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no report from caller {caller_id}")


def test_transfer_reaches_agent_with_context(worker: Worker, sip_dir: Path) -> None:
    agent = sipp(
        render("uas_agent.xml", sip_dir),
        None,
        sip_dir,
        server=True,
        port=int(worker.env["agent_port"]),
        background=True,
        timeout_s=30,
    )
    time.sleep(0.3)
    caller = run_caller(
        sip_dir,
        f"sip:bot@{worker.target}",
        digits="9",
        digits_at=1.5,
        duration=4.0,
        user="0622222222",
    )
    res = sipp_wait(agent)  # type: ignore[arg-type]
    assert res.returncode == 0 and res.successful == 1, res.log[-3000:]
    assert "X-Voicebot-Summary: Caller asks about a double charge on the May bill" in res.messages
    assert "X-Voicebot-Intent: billing_question" in res.messages
    bot = _report_of(worker, "0622222222")
    assert bot["transfer"] == "accepted"
    assert bot["close_reason"] == "transferred"
    refer = [e for e in caller["events"] if e["event"] == "refer"]
    assert refer and "X-Voicebot-Customer=C-1042" in refer[0]["to"]


def test_transfer_to_busy_agent_keeps_the_call(worker: Worker, sip_dir: Path) -> None:
    agent = sipp(
        render("uas_busy.xml", sip_dir),
        None,
        sip_dir,
        server=True,
        port=int(worker.env["agent_port"]),
        background=True,
        timeout_s=30,
    )
    time.sleep(0.3)
    run_caller(
        sip_dir,
        f"sip:bot@{worker.target}",
        digits="9",
        digits_at=1.5,
        duration=3.5,
        user="0633333333",
    )
    sipp_wait(agent)  # type: ignore[arg-type]
    bot = _report_of(worker, "0633333333")
    assert bot["transfer"] == "busy"
    assert bot["close_reason"] == "caller hung up"


def test_fifth_simultaneous_call_is_busy(worker: Worker, sip_dir: Path) -> None:
    res = sipp(
        render("uac_speech_dtmf.xml", sip_dir, SPEECH_MS="2500"),
        worker.target,
        sip_dir,
        calls=5,
        rate=50,
    )
    assert res.successful == 4 and res.failed == 1, res.log[-2000:]
    assert "SIP/2.0 486" in res.messages


def test_source_outside_allowed_networks_gets_403(tmp_path: Path) -> None:
    w = start_worker(tmp_path, "  allowed_networks: [10.0.0.0/8]\n")
    try:
        res = sipp(render("uac_rejected.xml", tmp_path, CODE="403"), w.target, tmp_path)
        assert res.returncode == 0 and res.successful == 1, res.log[-2000:]
    finally:
        assert w.stop() == 0


def test_digest_authentication(tmp_path: Path) -> None:
    w = start_worker(tmp_path, '  auth_user: "pbx"\n  auth_password: "s3cret"\n')
    try:
        res = sipp(
            render("uac_auth.xml", tmp_path),
            w.target,
            tmp_path,
            extra=("-au", "pbx", "-ap", "s3cret"),
        )
        assert res.returncode == 0 and res.successful == 1, res.log[-2000:]
        assert "SIP/2.0 401" in res.messages and "WWW-Authenticate: Digest" in res.messages
        res = sipp(
            render("uac_auth.xml", tmp_path),
            w.target,
            tmp_path,
            extra=("-au", "pbx", "-ap", "wrong"),
        )
        assert res.successful == 0
        assert "SIP/2.0 403" in res.messages
    finally:
        assert w.stop() == 0


def test_call_over_tcp(worker: Worker, sip_dir: Path) -> None:
    res = sipp(
        render("uac_speech_dtmf.xml", sip_dir, SPEECH_MS="1000"),
        worker.target,
        sip_dir,
        extra=("-t", "t1"),
    )
    assert res.returncode == 0 and res.successful == 1, res.log[-2000:]
    assert "TCP message sent" in res.messages
    report = worker.report_for(_call_id(res.messages))
    assert [d["digit"] for d in report["digits"]] == ["1", "2", "3", "5"]


SPEECH = '<nop><action><exec play_pcap_audio="{PCAP_DIR}/g711a.pcap"/></action></nop>'


def test_time_limit_notice_then_hangup(tmp_path: Path) -> None:
    w = start_worker(tmp_path, "  max_call_s: 2\n  limit_notice_s: 2\n")
    try:
        t0 = time.monotonic()
        res = sipp(
            render(
                "uac_wait_bye.xml",
                tmp_path,
                MEDIA=SPEECH.replace("{PCAP_DIR}", str(SPEECH_WAV.parent)),
            ),
            w.target,
            tmp_path,
            timeout_s=20,
        )
        took = time.monotonic() - t0
        assert res.returncode == 0 and res.successful == 1, res.log[-2000:]
        assert 2.0 < took < 6.0
        report = w.report_for(_call_id(res.messages))
        assert report["close_reason"] == "time limit"
        assert report["plays"][-1]["played_ms"] == 400  # the notice beep, played in full
    finally:
        assert w.stop() == 0
    assert "0 call object(s), 0 of" in w.log.read_text()


def test_caller_gone_without_bye_is_hung_up(tmp_path: Path) -> None:
    w = start_worker(tmp_path, "  media_timeout_s: 2\n")
    try:
        t0 = time.monotonic()
        res = sipp(render("uac_wait_bye.xml", tmp_path, MEDIA=""), w.target, tmp_path, timeout_s=20)
        assert res.returncode == 0 and res.successful == 1, res.log[-2000:]
        assert time.monotonic() - t0 < 8.0
        assert w.report_for(_call_id(res.messages))["close_reason"] == "no media"
    finally:
        assert w.stop() == 0


AGENT_SPEECH = '<nop><action><exec play_pcap_audio="{PCAP_DIR}/g711a.pcap"/></action></nop>'


def test_refused_refer_falls_back_to_a_bridged_transfer(worker: Worker, sip_dir: Path) -> None:
    """The caller's phone refuses REFER: the bot calls the agent itself and joins the calls."""
    agent = sipp(
        render(
            "uas_agent.xml",
            sip_dir,
            MEDIA=AGENT_SPEECH.replace("{PCAP_DIR}", str(SPEECH_WAV.parent)),
        ),
        None,
        sip_dir,
        server=True,
        port=int(worker.env["agent_port"]),
        background=True,
        timeout_s=30,
    )
    time.sleep(0.3)
    heard = sip_dir / f"bridged-{uuid.uuid4().hex[:4]}.wav"
    caller = run_caller(
        sip_dir,
        f"sip:bot@{worker.target}",
        digits="9",
        digits_at=1.5,
        duration=5.0,
        user="0644444444",
        refuse_refer="",
        record=heard,
    )
    res = sipp_wait(agent)  # type: ignore[arg-type]
    assert res.returncode == 0 and res.successful == 1, res.log[-3000:]
    assert "X-Voicebot-Intent: billing_question" in res.messages  # on the bot's INVITE
    bot = _report_of(worker, "0644444444")
    assert bot["transfer"] == "accepted" and bot["transfer_mode"] == "bridge"
    assert [e for e in caller["events"] if e["event"] == "refer"]
    # after the hand-over (about 2 s in) the caller hears the agent's speech
    levels = frame_dbfs(read_wav(heard))
    assert len([x for x in levels[150:] if x > -35.0]) >= 25
