"""bench/voice_load_sipp.py: the load bench's SIPp callers, against real SIPp answerers on
127.0.0.1 (one that answers and waits for the caller's BYE, one that is busy), and the
conversation's pcap against its WAV."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from sip_load import free_port  # noqa: E402
from voice_load_sipp import conversation_pcap, port_outside, run_sipp_callers  # noqa: E402

from tests.sip.campaign_callees import WAIT_BYE  # noqa: E402

if not shutil.which("sipp"):  # the README's test command installs sip-tester
    pytest.fail("sipp (Debian sip-tester) is missing", pytrace=False)

ANSWER = (
    """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="answer, then wait for the caller's BYE">
  <recv request="INVITE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK"/>
"""
    + WAIT_BYE
    + """
</scenario>
"""
)


def ulaw_decode(data: bytes) -> np.ndarray:
    u = ~np.frombuffer(data, np.uint8).astype(np.int32) & 0xFF
    mag = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)
    return np.where(u & 0x80, 0x84 - mag, mag - 0x84).astype(np.int32)


def pcap_rtp(path: Path) -> list[tuple[float, bytes]]:
    raw = path.read_bytes()[24:]
    out, pos = [], 0
    while pos < len(raw):
        sec, usec, size, _ = struct.unpack_from("<IIII", raw, pos)
        frame = raw[pos + 16 : pos + 16 + size]
        out.append((sec + usec / 1e6, frame[14 + 20 + 8 :]))
        pos += 16 + size
    return out


def speech_wav(path: Path, seconds: float = 1.0) -> Path:
    t = np.arange(int(8000 * seconds)) / 8000
    sf.write(str(path), (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), 8000)
    return path


def test_pcap_holds_the_recording_in_20_ms_packets(tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "a.wav", 1.01)
    packets = pcap_rtp(conversation_pcap(wav, tmp_path / "a.pcap"))
    assert len(packets) == 51  # 8080 samples: 50 packets and one padded
    assert np.allclose(np.diff([t for t, _ in packets]), 0.02, atol=1e-5)
    assert {rtp[1] & 0x7F for _, rtp in packets} == {0}  # PCMU
    decoded = np.concatenate([ulaw_decode(rtp[12:]) for _, rtp in packets])[:8080]
    original = sf.read(str(wav), dtype="int16")[0].astype(np.int32)
    assert np.max(np.abs(decoded - original)) <= 260  # mu-law's step at 8000


def answerer(tmp_path: Path, scenario: str, calls: int) -> tuple[subprocess.Popen[bytes], int]:
    xml = tmp_path / "uas.xml"
    xml.write_text(scenario)
    port = free_port()
    proc = subprocess.Popen(
        ["sipp", "-sf", str(xml), "-i", "127.0.0.1", "-p", str(port), "-mp",
         str(free_port(8)), "-m", str(calls), "-nostdin", "-timeout", "40s"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.3)
    return proc, port


def test_callers_are_answered_and_hang_up_when_no_bye_comes(tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "c.wav")
    uas, port = answerer(tmp_path, ANSWER, 3)
    try:
        results = run_sipp_callers(
            f"sip:bot@127.0.0.1:{port}", tmp_path, [0.0, 0.4, 0.8],
            {v: (wav, 1.0) for v in range(3)}, bye_wait_s=1.0,
        )  # fmt: skip
        assert uas.wait(20) == 0  # the answerer saw 3 calls through, BYE included
    finally:
        uas.kill()
    assert [r["answered"] for r in results] == [True, True, True]
    assert [r["refused"] or r["bot_hung_up"] for r in results] == [False, False, False]


def test_a_busy_answer_counts_as_refused(tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "c.wav")
    busy = (ROOT / "tests" / "sip" / "scenarios" / "uas_busy.xml").read_text()
    uas, port = answerer(tmp_path, busy, 2)
    try:
        results = run_sipp_callers(
            f"sip:bot@127.0.0.1:{port}", tmp_path, [0.0, 0.2],
            {v: (wav, 1.0) for v in range(3)}, bye_wait_s=1.0,
        )  # fmt: skip
        uas.wait(20)
    finally:
        uas.kill()
    assert [(r["answered"], r["refused"]) for r in results] == [(False, True), (False, True)]


def test_caller_ports_stay_out_of_the_workers_rtp_ports() -> None:
    # a free range that overlapped the workers' (not yet bound) RTP ports made the RTP probe
    # count SIPp's packets as the bot's, and could take a port a worker's call needs
    avoid = (21000, 40000)
    for _ in range(20):
        base = port_outside(48, avoid)
        assert base > avoid[1] or base + 48 <= avoid[0]
