"""SIPp callees for campaign tests and ``bench/campaign_sip.py``: people who answer with
keypad digits after a spoken greeting in another voice than the bot's (flite, espeak-ng),
busy lines (486), phones nobody answers (180 until CANCEL), answering machines (a long
greeting and a beep), people who hang up mid-survey.

Each kind of callee is one SIPp UAS process on its own port; a contact's URI names the
contact (``sip:c0042@127.0.0.1:PORT``) so the INVITEs each contact received can be counted
from SIPp's message trace.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import wave
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.sip.conftest import free_port, render, sipp
from tests.sip.rtp_pcap import RtpStream

WAIT_BYE = """
  <recv request="BYE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""
HANG_UP = """
  <pause milliseconds="{HANGUP_MS}"/>
  <send>
    <![CDATA[

      BYE [$contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$local]
      To: [$remote]
      [last_Call-ID:]
      CSeq: 2 BYE
      Contact: <sip:callee@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
"""
INVITE_ACTIONS = """
    <action>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" check_it="true"
            assign_to="contact"/>
    </action>
"""
ACK_ACTIONS = """
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="remote"/>
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="local"/>
    </action>
"""
# keypad answers of the keypad survey: consent 1, satisfaction 1-5, recommend 0-10,
# resolved 1 yes / 2 no, channel 1 phone / 2 web / 3 shop
RESOLVED = {"1": "yes", "2": "no"}
CHANNEL = {"1": "phone", "2": "web", "3": "shop"}


def speak(text: str, voice: str) -> np.ndarray:
    """``text`` in a flite (``flite:slt``) or espeak-ng (``espeak:en-gb``) voice, 8 kHz."""
    engine, _, name = voice.partition(":")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "v.wav"
        if engine == "flite":
            cmd = ["flite", "-voice", name, "-t", text, "-o", str(out)]
        else:
            cmd = ["espeak-ng", "-v", name, "-w", str(out), text]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        with wave.open(str(out), "rb") as w:
            rate = w.getframerate()
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    idx = np.arange(0, data.size, rate / 8000)
    return np.interp(idx, np.arange(data.size), data).astype(np.int16)


def beep(hz: float = 1000.0, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


@dataclass(frozen=True)
class Profile:
    """What one keypad respondent answers (the values the store must end up holding)."""

    satisfaction: str
    recommend: str
    resolved: str  # key
    channel: str  # key

    def keys(self) -> str:
        return f"1#{self.satisfaction}#{self.recommend}#{self.resolved}#{self.channel}#"

    def answers(self) -> dict[str, str]:
        return {
            "consent": "yes",
            "satisfaction": self.satisfaction,
            "recommend": self.recommend,
            "resolved": RESOLVED[self.resolved],
            "channel": CHANNEL[self.channel],
            "completed": "yes",
        }


def person_pcap(path: Path, keys: str, voice: str, greeting: str = "Hello?") -> Path:
    """A person: a short greeting, a pause, the keys, then 45 s of quiet line."""
    stream = RtpStream().silence(0.3).audio(speak(greeting, voice)).silence(1.5)
    return stream.keys(keys).silence(45.0).write(path)


def machine_pcap(path: Path, voice: str) -> Path:
    """An answering machine: a long greeting, a beep, then it records (quiet line)."""
    text = (
        "Hi, you have reached the Miller family. We cannot come to the phone right now."
        " Please leave a message after the tone."
    )
    stream = RtpStream().silence(0.3).audio(speak(text, voice)).silence(0.6)
    return stream.audio(beep()).silence(30.0).write(path)


@dataclass
class Callee:
    """One SIPp UAS: its port, process and message trace."""

    kind: str
    port: int
    proc: subprocess.Popen[bytes]

    def uri(self, user: str) -> str:
        return f"sip:{user}@127.0.0.1:{self.port}"

    def invites(self) -> Counter[str]:
        """INVITEs received per user part of the Request-URI (retransmissions not counted)."""
        folder: Path = self.proc.folder  # type: ignore[attr-defined]
        tag: str = self.proc.tag  # type: ignore[attr-defined]
        trace = folder / f"{tag}.msg"
        text = trace.read_text(errors="replace") if trace.exists() else ""
        seen: dict[str, set[str]] = {}
        for block in text.split("\n\n"):
            m = re.search(r"^INVITE sip:([^@\s]+)@", block, re.M)
            cid = re.search(r"^Call-ID:\s*(\S+)", block, re.M | re.I)
            if m and cid:
                seen.setdefault(m.group(1), set()).add(cid.group(1))
        return Counter({user: len(ids) for user, ids in seen.items()})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_callee(
    kind: str,
    folder: Path,
    *,
    pcap: Path | None = None,
    ring_ms: int = 300,
    hangup_ms: int = 0,
    status: str = "",
    calls: int = 100000,
) -> Callee:
    """Start one SIPp UAS of ``kind``: ``busy``, ``status`` (answers every INVITE with
    ``status``, e.g. ``404 Not Found``), ``ring`` (never answers) or ``answer`` (plays
    ``pcap``; hangs up after ``hangup_ms`` if not 0, else waits for the BYE)."""
    if kind == "busy":
        scenario = render("uas_busy.xml", folder)
    elif kind == "status":
        scenario = render("uas_busy.xml", folder)
        scenario.write_text(scenario.read_text().replace("486 Busy Here", status))
    elif kind == "ring":
        scenario = render("uas_campaign_ring.xml", folder)
    else:
        assert pcap is not None
        end = HANG_UP.replace("{HANGUP_MS}", str(hangup_ms)) if hangup_ms else WAIT_BYE
        scenario = render(
            "uas_campaign_answer.xml",
            folder,
            PCAP=str(pcap),
            RING_MS=str(ring_ms),
            END=end,
            INVITE_ACTIONS=INVITE_ACTIONS if hangup_ms else "",
            ACK_ACTIONS=ACK_ACTIONS if hangup_ms else "",
        )
    port = free_port()
    proc = sipp(
        scenario,
        None,
        folder,
        calls=calls,
        limit=400,
        timeout_s=7200,
        server=True,
        port=port,
        background=True,
    )
    assert isinstance(proc, subprocess.Popen)
    return Callee(kind, port, proc)


def have_voices() -> bool:
    return shutil.which("flite") is not None and shutil.which("espeak-ng") is not None
