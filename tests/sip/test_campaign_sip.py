"""Campaign calls over real SIP on 127.0.0.1: ``voicebot campaign start`` (no --simulate)
runs the dialer, its dialer processes place the calls with pjsua2, and SIPp callees answer.

Callees: people who greet in a flite or espeak-ng voice (not the bot's Piper voice) and answer
with keypad digits (RFC 2833), a busy line (486), a phone nobody answers (CANCEL after the
ring timeout), a callee that refuses (404), an answering machine (long greeting and beep), a
person who hangs up mid-survey: these run the keypad survey (``outbound.survey: keypad``,
voicebot.center.campaigns.keypad_survey). The spoken survey dialog over SIP is in
tests/sip/test_campaign_spoken.py.
Real: the dialer, the store, pjsua2, SIPp, Piper (the bot's prompts), the AMD.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.sip.campaign_callees import (
    Profile,
    have_voices,
    machine_pcap,
    person_pcap,
    start_callee,
)
from tests.sip.conftest import PYTHON, ROOT, free_port, require_peers

CAMPAIGN = """\
name: {name}
dialog: survey_csat
caller_id: "+441632960000"
window: {{days: mon-sun, hours: "00:00-23:59"}}
pacing: {{max_concurrent: {concurrent}, max_rate_per_s: 2.0}}
retries:
  busy: {{delay_s: 1, max: 1}}
  no_answer: {{delay_s: 1, max: 0}}
  failed: {{delay_s: 1, max: 0}}
max_attempts: 3
machine:
  action: message
  message: "Hello, this is Brightline Energy and Telecom about a short survey. We will call again."
"""


@pytest.fixture
def peers() -> None:
    require_peers()
    if not have_voices():
        pytest.skip("flite and espeak-ng are needed for the callees' voices")


def setup(
    tmp_path: Path,
    name: str,
    rows: list[str] | dict[str, str],
    concurrent: int,
    survey: str = "keypad",
    *,
    campaign: str | None = None,
    ring_timeout_s: float = 4,
    settings: str = "",
) -> dict[str, str]:
    """Write the campaign, its contacts and the settings into ``tmp_path`` and import the
    campaign with ``voicebot campaign import``; returns the environment for ``start``.

    ``rows``: the contacts' SIP URIs (named ``Contact i``), or URI -> name; ``campaign``:
    the campaign file's text (default: :data:`CAMPAIGN` for ``name`` and ``concurrent``);
    ``ring_timeout_s``: the dialer's ring timeout, s; ``settings``: more settings YAML,
    appended (its first lines still in the ``outbound`` section)."""
    text = campaign if campaign is not None else CAMPAIGN.format(name=name, concurrent=concurrent)
    (tmp_path / "campaign.yml").write_text(text)
    named = rows if isinstance(rows, dict) else {u: f"Contact {i}" for i, u in enumerate(rows)}
    (tmp_path / "contacts.csv").write_text(
        "phone,name,timezone,language\n"
        + "".join(f"{uri},{who},Europe/London,en\n" for uri, who in named.items())
    )
    base = free_port(4)
    rtp = free_port(100)
    keypad = "  keypad_answer_s: 6\n" if survey == "keypad" else ""
    (tmp_path / "settings.yml").write_text(
        f"sip:\n  media_timeout_s: 120\n  log_level: 0\n"
        f"services:\n  mode: inprocess\n"
        f"outbound:\n  ring_timeout_s: {ring_timeout_s}\n  base_port: {base}\n"
        f"  rtp_base_port: {rtp}\n  rtp_ports: 50\n{keypad}  survey: {survey}\n{settings}"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VOICEBOT_VAR": str(tmp_path / "var"),
        "VOICEBOT_CONFIG": str(tmp_path / "settings.yml"),
    }
    out = subprocess.run(
        [PYTHON, "-m", "voicebot.cli", "campaign", "import", "campaign.yml", "contacts.csv"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return env


def start(tmp_path: Path, name: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "voicebot.cli", "campaign", "start", name],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout_s: float) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"campaign did not finish in {timeout_s} s:\n{out[-3000:]}") from None
    assert proc.returncode == 0, out[-3000:]
    return out


def contacts(db: Path) -> dict[str, dict]:
    """Per phone: state, attempt results and details, answers."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    out: dict[str, dict] = {}
    for c in con.execute("SELECT * FROM contacts"):
        attempts = con.execute(
            "SELECT result, detail FROM attempts WHERE contact_id = ? ORDER BY id", (c["id"],)
        ).fetchall()
        answers = con.execute(
            "SELECT question, value FROM answers WHERE contact_id = ?", (c["id"],)
        ).fetchall()
        out[c["phone"]] = {
            "state": c["state"],
            "results": [a["result"] for a in attempts],
            "details": [a["detail"] or "" for a in attempts],
            "answers": {a["question"]: a["value"] for a in answers},
        }
    con.close()
    return out


def test_every_kind_of_callee_gets_the_right_outcome(tmp_path: Path, peers: None) -> None:
    alice, bob = Profile("4", "9", "1", "2"), Profile("2", "10", "2", "3")
    callees = {
        "alice": start_callee(
            "answer", tmp_path, pcap=person_pcap(tmp_path / "a.pcap", alice.keys(), "flite:slt")
        ),
        "bob": start_callee(
            "answer",
            tmp_path,
            pcap=person_pcap(tmp_path / "b.pcap", bob.keys(), "espeak:en-gb", "Yes, hello?"),
        ),
        "busy": start_callee("busy", tmp_path),
        "ring": start_callee("ring", tmp_path),
        "gone": start_callee("status", tmp_path, status="404 Not Found"),
        "machine": start_callee(
            "answer", tmp_path, pcap=machine_pcap(tmp_path / "m.pcap", "flite:awb")
        ),
        "quitter": start_callee(
            "answer",
            tmp_path,
            pcap=person_pcap(tmp_path / "q.pcap", "1#3#", "flite:rms"),
            hangup_ms=20000,
        ),
    }
    try:
        uris = {k: c.uri(k) for k, c in callees.items()}
        env = setup(tmp_path, "kinds", list(uris.values()), concurrent=4)
        out = finish(start(tmp_path, "kinds", env), 240)
        got = contacts(tmp_path / "var" / "campaigns.sqlite3")
        invites = {k: c.invites()[k] for k, c in callees.items()}
    finally:
        for c in callees.values():
            c.stop()
    summary = json.dumps(got, indent=1) + "\n" + out[-2000:]
    alice_got, bob_got = got[uris["alice"]], got[uris["bob"]]
    assert alice_got["results"] == ["answered"], summary
    assert alice_got["answers"] == alice.answers(), summary
    assert "completed" in alice_got["details"][0], summary
    assert bob_got["answers"] == bob.answers(), summary
    assert got[uris["busy"]]["results"] == ["busy", "busy"], summary  # one retry
    assert "486" in got[uris["busy"]]["details"][0], summary
    assert got[uris["ring"]]["results"] == ["no_answer"], summary
    assert "CANCEL" in got[uris["ring"]]["details"][0], summary
    assert got[uris["gone"]]["results"] == ["failed"], summary
    assert "404" in got[uris["gone"]]["details"][0], summary
    machine = got[uris["machine"]]
    assert machine["results"] == ["machine"], summary
    assert "message left after the beep" in machine["details"][0], summary
    assert machine["answers"] == {}, summary
    quitter = got[uris["quitter"]]
    assert quitter["results"] == ["answered"], summary
    assert quitter["answers"] == {"consent": "yes", "satisfaction": "3"}, summary
    assert "hung up mid-survey" in quitter["details"][0], summary
    assert invites == {
        "alice": 1, "bob": 1, "busy": 2, "ring": 1, "gone": 1, "machine": 1, "quitter": 1
    }, invites  # fmt: skip


def _dialers_of(store: Path) -> list[int]:
    """Dialer processes (still) running for this test's campaign database."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"voicebot.center.campaigns.dialer_proc" in cmd and str(store).encode() in cmd:
            pids.append(int(proc.name))
    return pids


def test_a_killed_campaign_resumes_without_calling_anyone_twice_or_losing_answers(
    tmp_path: Path, peers: None
) -> None:
    profiles = [Profile(str(1 + i % 5), str(i % 11), "12"[i % 2], "123"[i % 3]) for i in range(4)]
    callees = [
        start_callee(
            "answer",
            tmp_path,
            pcap=person_pcap(tmp_path / f"p{i}.pcap", p.keys(), ["flite:slt", "flite:kal"][i % 2]),
        )
        for i, p in enumerate(profiles)
    ]
    n = 12
    users = [f"c{k:02d}" for k in range(n)]
    uris = [callees[k % 4].uri(u) for k, u in enumerate(users)]
    try:
        env = setup(tmp_path, "resume", uris, concurrent=4)
        db = tmp_path / "var" / "campaigns.sqlite3"
        first = start(tmp_path, "resume", env)
        # kill it while calls are in the middle of their surveys
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            answered = sum(len(c["answers"]) for c in contacts(db).values())
            if answered >= 8:
                break
            assert first.poll() is None, first.communicate()[0][-3000:]
            time.sleep(0.5)
        first.send_signal(signal.SIGKILL)
        first.wait()
        before = contacts(db)
        in_call = [p for p, c in before.items() if c["state"] == "in_call"]
        assert in_call, "the kill should cut calls in progress"
        end = time.monotonic() + 30  # its dialers see stdin close, hang up and exit
        while _dialers_of(db) and time.monotonic() < end:
            time.sleep(0.2)
        assert not _dialers_of(db), "dialer processes outlived the campaign process"
        out = finish(start(tmp_path, "resume", env), 300)
        after = contacts(db)
        invites: dict[str, int] = {}
        for c in callees:
            invites.update(c.invites())
    finally:
        for c in callees:
            c.stop()
    summary = json.dumps(after, indent=1) + "\n" + out[-1500:]
    assert invites == {u: 1 for u in users}, invites  # nobody called twice
    for k, uri in enumerate(uris):
        want = profiles[k % 4].answers()
        got = after[uri]
        for q, v in before[uri]["answers"].items():  # nothing recorded before the kill lost
            assert got["answers"].get(q) == v, summary
        if uri in in_call:
            assert got["results"] == ["interrupted"], summary
            assert all(want[q] == v for q, v in got["answers"].items()), summary
        else:
            assert got["results"] == ["answered"], summary
            assert got["answers"] == want, summary
