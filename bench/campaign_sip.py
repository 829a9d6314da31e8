"""A survey campaign over real SIP against SIPp callees on 127.0.0.1.

    python bench/campaign_sip.py [--contacts 1000] [--concurrent 16] [--rate 4]
        [--out bench/results/campaign.json]
    python bench/campaign_sip.py --spoken [--contacts 48] [--concurrent 4] [--rate 0.5]
        [--profiles 24] [--out bench/results/campaign_spoken.json]

``--spoken``: people who answer the spoken survey by voice, listening to each question
(bench/campaign_spoken.py); the rest of this docstring is the keypad run.

Imports a campaign of ``--contacts`` contacts and runs ``voicebot campaign start`` (dialer
processes with pjsua2, at most 4 calls each) against SIPp UAS callees: 70% people (eight
answer profiles, greetings in flite/espeak-ng voices, keypad answers as RFC 2833 events in
the recorded stream), 10% busy (486), 10% nobody answers (CANCEL after the ring timeout),
10% answering machines (long greeting, beep: the bot leaves the message). People get the
keypad survey (``outbound.survey: keypad``): this measures the telephony, dialer, AMD and
store path at scale, not ASR (the spoken survey's accuracy is the survey bench's job; the
spoken survey over SIP is tests/sip/test_campaign_spoken.py).

Reports calls per minute, completed surveys per hour, answer accuracy (every answer stored
against what the callee's recording pressed), outcome accuracy per callee kind, CPU seconds
and peak memory of the campaign and dialer processes, and the load average: the machine is
shared with other work, so times are inflated; the accuracy numbers do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sip.campaign_callees import (  # noqa: E402
    Profile,
    machine_pcap,
    person_pcap,
    start_callee,
)
from tests.sip.conftest import free_port  # noqa: E402

VOICES = ["flite:slt", "flite:awb", "flite:rms", "flite:kal", "espeak:en-us", "espeak:en-gb"]
GREETINGS = ["Hello?", "Yes, hello?", "Hi, who is this?", "Hello, speaking."]


def rss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def campaign_pids(store: Path, root_pid: int) -> set[int]:
    pids = {root_pid}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"dialer_proc" in cmd and str(store).encode() in cmd:
                pids.add(int(proc.name))
    return pids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, help="1000 (--spoken: 48)")
    parser.add_argument("--concurrent", type=int, help="16 (--spoken: 4)")
    parser.add_argument("--rate", type=float, help="new calls per second: 4 (--spoken: 0.5)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--spoken", action="store_true", help="spoken respondents (see above)")
    parser.add_argument("--profiles", type=int, default=24, help="spoken respondent profiles")
    args = parser.parse_args()
    if args.spoken:
        from bench.campaign_spoken import run_spoken

        out = args.out or ROOT / "bench" / "results" / "campaign_spoken.json"
        result = run_spoken(
            args.contacts or 48, args.concurrent or 4, args.rate or 0.5, args.profiles, out
        )
        print(json.dumps(result, indent=1))
        return 0
    args.out = args.out or ROOT / "bench" / "results" / "campaign.json"
    args.contacts, args.concurrent = args.contacts or 1000, args.concurrent or 16
    args.rate = args.rate or 4.0
    work = Path(tempfile.mkdtemp(prefix="campaign-sip-"))
    profiles = [
        Profile(str(1 + i % 5), str((3 * i + 4) % 11), "12"[i % 2], "123"[i % 3]) for i in range(8)
    ]
    callees = {}
    for i, p in enumerate(profiles):
        pcap = person_pcap(
            work / f"p{i}.pcap", p.keys(), VOICES[i % len(VOICES)], GREETINGS[i % len(GREETINGS)]
        )
        callees[f"p{i}"] = start_callee("answer", work, pcap=pcap)
    callees["busy"] = start_callee("busy", work)
    callees["ring"] = start_callee("ring", work)
    callees["machine"] = start_callee("answer", work, pcap=machine_pcap(work / "m.pcap", VOICES[1]))
    plan: list[tuple[str, str]] = []  # (user, callee kind)
    for k in range(args.contacts):
        r = k % 10
        kind = "busy" if r == 7 else "ring" if r == 8 else "machine" if r == 9 else f"p{k % 8}"
        plan.append((f"c{k:05d}", kind))
    (work / "campaign.yml").write_text(
        "name: bench\ndialog: survey_csat\ncaller_id: '+441632960000'\n"
        "window: {days: mon-sun, hours: '00:00-24:00'}\n"
        f"pacing: {{max_concurrent: {args.concurrent}, max_rate_per_s: {args.rate}}}\n"
        "retries: {busy: {delay_s: 5, max: 1}, no_answer: {delay_s: 5, max: 0},"
        " failed: {delay_s: 5, max: 0}}\nmax_attempts: 3\n"
        "machine: {action: message, message: 'Hello, this is Brightline Energy and Telecom"
        " with a short survey. We will call again.'}\n"
    )
    (work / "contacts.csv").write_text(
        "phone,name,timezone,language\n"
        + "".join(f"{callees[kind].uri(user)},{user},Europe/London,en\n" for user, kind in plan)
    )
    dialers = -(-args.concurrent // 4)
    base, rtp = free_port(dialers + 1), free_port(dialers * 60)
    (work / "settings.yml").write_text(
        "sip:\n  media_timeout_s: 120\n  log_level: 0\nservices:\n  mode: inprocess\n"
        f"outbound:\n  ring_timeout_s: 6\n  base_port: {base}\n  rtp_base_port: {rtp}\n"
        "  rtp_ports: 60\n  keypad_answer_s: 6\n  survey: keypad\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VOICEBOT_VAR": str(work / "var"),
        "VOICEBOT_CONFIG": str(work / "settings.yml"),
    }
    cli = [sys.executable, "-m", "voicebot.cli", "campaign"]
    subprocess.run([*cli, "import", "campaign.yml", "contacts.csv"], cwd=work, env=env, check=True)
    store = work / "var" / "campaigns.sqlite3"
    load_before = os.getloadavg()
    started = time.time()
    proc = subprocess.Popen(
        [*cli, "start", "bench"], cwd=work, env=env, stdout=subprocess.PIPE, text=True
    )
    peak_mb, samples = 0.0, []
    while proc.poll() is None:
        mb = rss_mb(campaign_pids(store, proc.pid))
        peak_mb = max(peak_mb, mb)
        samples.append(mb)
        time.sleep(2.0)
    wall = time.time() - started
    out = proc.communicate()[0]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # campaign + its dialers (reaped)
    load_after = os.getloadavg()
    invites: dict[str, int] = {}
    for c in callees.values():
        invites.update(c.invites())
        c.stop()
    db = sqlite3.connect(store)
    rows = db.execute(
        "SELECT c.phone, c.id, (SELECT group_concat(result) FROM attempts a"
        " WHERE a.contact_id = c.id), (SELECT detail FROM attempts a WHERE a.contact_id = c.id"
        " ORDER BY id DESC LIMIT 1) FROM contacts c"
    ).fetchall()
    answers: dict[int, dict[str, str]] = {}
    for cid, q, v in db.execute("SELECT contact_id, question, value FROM answers"):
        answers.setdefault(cid, {})[q] = v
    attempts = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
    by_phone = {phone: (cid, results or "", detail or "") for phone, cid, results, detail in rows}
    want_result = {"busy": "busy,busy", "ring": "no_answer", "machine": "machine"}
    kinds_ok: dict[str, list[int]] = {}
    right = total = completed = 0
    twice = 0
    for user, kind in plan:
        cid, results, detail = by_phone[callees[kind].uri(user)]
        group = kind if not kind.startswith("p") else "person"
        expected = want_result.get(kind, "answered")
        ok = results == expected
        if group == "person":
            want = profiles[int(kind[1:])].answers()
            got = answers.get(cid, {})
            for q, v in want.items():
                total += 1
                right += got.get(q) == v
            completed += got.get("completed") == "yes"
        if group == "machine":
            ok = ok and "message left" in detail
        kinds_ok.setdefault(group, [0, 0])
        kinds_ok[group][0] += ok
        kinds_ok[group][1] += 1
        allowed = 2 if kind == "busy" else 1
        twice += invites.get(user, 0) > allowed
    result = {
        "what": "survey campaign over SIP (voicebot campaign start) against SIPp callees",
        "contacts": args.contacts,
        "max_concurrent": args.concurrent,
        "max_rate_per_s": args.rate,
        "dialer_processes": dialers,
        "survey": "keypad (outbound.survey: keypad): no ASR in this run",
        "wall_s": round(wall, 1),
        "attempts": attempts,
        "calls_per_min": round(attempts / (wall / 60), 1),
        "completed_surveys": completed,
        "completed_surveys_per_hour": round(completed / (wall / 3600), 1),
        "answer_accuracy": round(right / max(1, total), 4),
        "answers_checked": total,
        "outcome_right_by_kind": {k: f"{a}/{b}" for k, (a, b) in kinds_ok.items()},
        "contacts_called_more_than_allowed": twice,
        "cpu_s_campaign_and_dialers": round(usage.ru_utime + usage.ru_stime, 1),
        "cpu_share_of_2_cores": round((usage.ru_utime + usage.ru_stime) / wall / 2, 3),
        "peak_rss_mb_campaign_and_dialers": round(peak_mb, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "note": "2 cores shared with other helpers' work while this ran: wall times and"
        " calls/min are pessimistic; answer and outcome accuracy do not depend on load."
        " Person calls last ~25 s (the keypad survey's prompts in real time).",
        "command": f"python bench/campaign_sip.py --contacts {args.contacts}"
        f" --concurrent {args.concurrent} --rate {args.rate}",
        "funnel": out.strip().splitlines()[-1] if out.strip() else "",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
