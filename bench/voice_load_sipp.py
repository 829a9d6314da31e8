"""bench/voice_load.py's callers as SIPp calls: the same conversations for a fraction of the CPU.

The pjsua2 callers (tests/sip/caller.py, one Python process per call) cost the machine more
than the bot's dialog service: at 32 calls 13 CPU-s per 54 s and the largest run-queue wait
of any role (``sched.per_role.caller`` in bench/results/voice_load.json). On a real line the
callers are elsewhere, so on this machine their CPU is taken from the bot under test. Here
one ``sipp`` process per recording variant (3) carries every call of the level:

* each call waits its random start offset (the same offsets as the pjsua2 callers: the
  bench's ``random.Random(n)``; handed to SIPp in an injection file, field 0, in ms);
* sends an INVITE offering G.711 mu-law (PT 0) and telephone-event, through Kamailio;
* is either refused (503, admission control, or 486: ACKed, logged ``refused``) or answered
  (logged ``answered``), ACKs and plays the caller's side (the WAV of
  :func:`voice_load.caller_wav`: silence over the greeting, hours, pause, outage postcode,
  pause, goodbye) as RTP from a pcap, 20 ms packets, timed by SIPp;
* waits for the bot's BYE (the bot hangs up after the goodbye) and answers it; with no BYE
  within the conversation's length + 30 s it hangs up itself (logged ``no-bye``).

The turns, their latencies and whether a call completed come from the workers' logs as
with the pjsua2 callers; these callers give only answered / refused. They record nothing,
so the single-call level (whose wire latency needs the caller's recording) stays with
pjsua2 (``voice_load.run_level``). Network: 127.0.0.1 only.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sip"))
from rtp_pcap import RtpStream  # noqa: E402
from sip_load import free_port  # noqa: E402

VARIANTS = 3
"""Recording variants of the callers (voice_load.HOURS/OUTAGE/GOODBYE, by call index % 3)."""

_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="voice_load caller">
  <nop><action>
    <assignstr assign_to="wait" value="[field0]"/>
    <todouble assign_to="wait_ms" variable="wait"/>
  </action></nop>
  <pause variable="wait_ms"/>
"""
_FROM = 'From: "Load Caller" <sip:[field1]@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]'
_INVITE = f"""  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {_FROM}
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:[field1]@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[local_ip_type] [local_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="503" optional="true" next="refused"/>
  <recv response="486" optional="true" next="refused"/>
  <recv response="200" rtd="true" rrs="true"/>
  <nop><action><log message="answered [field2]"/></action></nop>
"""


def _in_dialog(method: str, cseq: int) -> str:
    return f"""  <send{' retrans="500"' if method == "BYE" else ""}>
    <![CDATA[

      {method} [next_url] SIP/2.0
      [routes]
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {_FROM}
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: sip:[field1]@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""


_TAIL = f"""  <recv request="BYE" timeout="{{WAIT_MS}}" ontimeout="hangup"/>
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
  <nop next="end"/>
  <label id="hangup"/>
  <nop><action><log message="no-bye [field2]"/></action></nop>
{_in_dialog("BYE", 2)}  <recv response="200" next="end"/>
  <label id="refused"/>
  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {_FROM}
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop><action><log message="refused [field2]"/></action></nop>
  <label id="end"/>
  <pause milliseconds="10"/>
</scenario>
"""


def scenario(pcap: Path, wait_ms: int) -> str:
    """The SIPp scenario of one variant: play ``pcap`` once answered, wait ``wait_ms`` for
    the bot's BYE (fields of the injection file: start offset ms, caller number, index)."""
    play = f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'
    return _HEAD + _INVITE + _in_dialog("ACK", 1) + play + _TAIL.replace("{WAIT_MS}", str(wait_ms))


def conversation_pcap(wav: Path, out: Path) -> Path:
    """The caller's side (a WAV at 8 kHz) as 20 ms mu-law RTP packets in a pcap."""
    audio, rate = sf.read(str(wav), dtype="int16")
    assert rate == 8000, wav
    return RtpStream().audio(np.asarray(audio)).write(out)


def port_outside(span: int, avoid: tuple[int, int] | None) -> int:
    """A free port range of ``span`` (bench/sip_load.free_port) that does not overlap
    ``avoid`` (first, last port): the workers' RTP ports, free until a call takes them, must
    not be taken by a caller (a worker could not bind its call's port, and the RTP probe
    would count the caller's packets as the bot's)."""
    for _ in range(100):
        base = free_port(span)
        if avoid is None or base + span <= avoid[0] or base > avoid[1]:
            return base
    raise RuntimeError(f"no free port range of {span} outside {avoid}")


def run_sipp_callers(
    target: str,
    folder: Path,
    delays: list[float],
    variant_wav: dict[int, tuple[Path, float]],
    nice: int = 0,
    bye_wait_s: float = 30.0,
    avoid: tuple[int, int] | None = None,
) -> list[dict]:
    """Ring ``len(delays)`` calls (call i starts ``delays[i]`` s from now and plays the
    variant ``i % 3``); returns one result per call as voice_load's callers do:
    ``answered``, ``refused``, ``bot_hung_up`` (the bot's BYE came) and ``wire_ms`` (always
    empty: nothing is recorded here).

    ``variant_wav`` maps a variant to its WAV and length (s). One SIPp process per variant,
    all running at once, at nice ``nice``. A call the bot has not hung up ``bye_wait_s``
    after the end of its recording is hung up by the caller. No port of ``avoid`` (first,
    last) is used."""
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    for variant in range(VARIANTS):
        calls = [i for i in range(len(delays)) if i % VARIANTS == variant]
        if not calls:
            continue
        wav, length = variant_wav[variant]
        pcap = conversation_pcap(wav, folder / f"sipp-caller-{variant}.pcap")
        xml = folder / f"sipp-caller-{variant}.xml"
        xml.write_text(scenario(pcap, int((length + bye_wait_s) * 1000)))
        inject = folder / f"sipp-caller-{variant}.csv"
        inject.write_text(
            "SEQUENTIAL\n" + "".join(f"{int(delays[i] * 1000)};0690{i:06d};{i}\n" for i in calls)
        )
        log = folder / f"sipp-caller-{variant}.log"
        cmd = [
            *(["nice", "-n", str(nice)] if nice else []),
            "sipp", "-sf", str(xml), "-inf", str(inject),
            "-i", "127.0.0.1", "-p", str(port_outside(1, avoid)),
            "-mp", str(port_outside(4 * len(calls) + 4, avoid)),
            "-m", str(len(calls)), "-l", str(len(calls)), "-r", "1000",
            "-timeout", f"{int(max(delays, default=0) + length + bye_wait_s + 60)}s", "-nostdin",
            "-trace_logs", "-log_file", str(log),
            "-trace_err", "-error_file", str(folder / f"sipp-caller-{variant}.err"),
            "-s", "bot", target.removeprefix("sip:bot@"),
        ]  # fmt: skip
        procs.append((subprocess.Popen(cmd, cwd=folder, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL), log))  # fmt: skip
    waiters = [threading.Thread(target=p.wait) for p, _ in procs]
    for t in waiters:
        t.start()
    for t in waiters:
        t.join()
    seen: dict[str, set[int]] = {"answered": set(), "refused": set(), "no-bye": set()}
    for _, log in procs:
        for line in log.read_text().splitlines() if log.exists() else []:
            kind, _, index = line.strip().partition(" ")
            if kind in seen and index.isdigit():
                seen[kind].add(int(index))
    return [
        {
            "index": i,
            "answered": i in seen["answered"],
            "refused": i in seen["refused"],
            "bot_hung_up": i in seen["answered"] and i not in seen["no-bye"],
            "wire_ms": [],
        }
        for i in range(len(delays))
    ]
