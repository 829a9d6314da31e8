"""The spoken survey campaign over real SIP (``python bench/campaign_sip.py --spoken``).

``voicebot campaign start`` (dialer processes with pjsua2 that load Whisper, the trained Rasa
survey dialog and Piper themselves: ``services.mode: inprocess``, with an action server
started here) calls ``--contacts`` listening respondents (tests/sip/survey_respondent.py: a
pjsua2 worker on 127.0.0.1 that decodes each bot prompt with Whisper, answers the question
asked with its recording for it, repeats itself in other words when asked again and answers
read-backs truthfully).

Respondents (reporting data: nothing here was tuned on; the survey's parser and ASR modes
were tuned on bench/survey_asr.py's ``tune`` set only):

* ``synthetic``: bench/survey_asr.py's REPORT phrases ("I'd give it a four", "probably an
  eight", "no not really", "usually the shop", ...) in its report voices (flite kal,
  espeak-ng en-gb-x-rp, en-us+m3), a profile per contact cycling through the phrases;
* ``human digits``: the rating and the score said by a person (FSDD, report takes 1 and
  11 of jackson, nicolas, yweweler: the second take is the repeat), the other answers in
  the report voices.

An answer is right when the store holds the value the respondent meant (the comment: any
text stored). Reported per question type and per respondent kind, with completed surveys,
calls per minute and CPU/memory; the machine is shared with other work, so times are
inflated; the accuracy numbers do not depend on it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.survey_asr import REPORT_SAID, REPORT_VOICES  # noqa: E402
from tests.sip.conftest import free_port  # noqa: E402
from tests.sip.survey_respondent import start_line, stop_line  # noqa: E402
from tests.sip.test_campaign_sip import contacts  # noqa: E402
from voicebot.audio.wavio import load_audio  # noqa: E402
from voicebot.center.campaigns.spec import load_campaign  # noqa: E402
from voicebot.center.campaigns.spoken import synthesize  # noqa: E402
from voicebot.dialog.action_server import ActionServer  # noqa: E402
from voicebot.replay.cases import FSDD_DIR  # noqa: E402

CAMPAIGN = ROOT / "tests" / "data" / "survey_csat.yml"
#: survey question id -> bench/survey_asr.py answer type
TYPE_OF = {
    "consent": "consent",
    "satisfaction": "scale",
    "recommend": "score",
    "resolved": "yes_no",
    "channel": "choice",
    "comment": "comment",
}
HUMAN_SPEAKERS = ("jackson", "nicolas", "yweweler")
HUMAN_EVERY = 4
"""Every HUMAN_EVERY-th profile says its rating and score in a person's recorded voice."""


def _write(path: Path, audio: np.ndarray) -> str:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.asarray(audio, dtype="<i2").tobytes())
    return str(path)


def _fsdd(digit: str, speaker: str, take: int) -> np.ndarray:
    path = FSDD_DIR / "recordings" / f"{digit}_{speaker}_{take}.wav"
    return np.asarray(load_audio(path, rate=8000).samples, dtype=np.int16)


def profile(i: int, folder: Path) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Respondent ``i``: (kind, its script for survey_respondent, answers meant by id)."""
    voice = REPORT_VOICES[i % len(REPORT_VOICES)]
    human = i % HUMAN_EVERY == HUMAN_EVERY - 1
    consent_yes = [s for s in REPORT_SAID["consent"] if s[1] == "yes"]
    picks = {
        "consent": consent_yes[i % len(consent_yes)],
        "satisfaction": REPORT_SAID["scale"][i % len(REPORT_SAID["scale"])],
        "recommend": REPORT_SAID["score"][(3 * i) % len(REPORT_SAID["score"])],
        "resolved": REPORT_SAID["yes_no"][i % len(REPORT_SAID["yes_no"])],
        "channel": REPORT_SAID["choice"][(i // 3) % len(REPORT_SAID["choice"])],
        "comment": REPORT_SAID["comment"][i % len(REPORT_SAID["comment"])],
    }
    answers: dict[str, Any] = {}
    meant: dict[str, str] = {}
    for q, (text, value) in picks.items():
        meant[q] = value or "*"
        if human and q in ("satisfaction", "recommend"):
            digit = str(1 + i % 5) if q == "satisfaction" else str((3 * i) % 10)
            speaker = HUMAN_SPEAKERS[i % len(HUMAN_SPEAKERS)]
            takes = [
                _write(folder / f"p{i}-{q}-{n}.wav", _fsdd(digit, speaker, t))
                for n, t in ((1, 1), (2, 11))
            ]
            meant[q] = digit
        else:
            takes = [
                _write(folder / f"p{i}-{q}-1.wav", synthesize(text, voice)),
                _write(folder / f"p{i}-{q}-2.wav", synthesize(f"I said {text}", voice)),
            ]
        answers[q] = {"value": meant[q], "takes": takes}
    script = {
        "greeting": _write(folder / f"p{i}-hello.wav", synthesize("Hello?", voice)),
        "answers": answers,
        "yes": _write(folder / f"p{i}-yes.wav", synthesize("yes that's right", voice)),
        "no": _write(folder / f"p{i}-no.wav", synthesize("no that's wrong", voice)),
        "hang_up": False,
    }
    return ("human digits" if human else "synthetic"), script, meant


def run_spoken(
    n_contacts: int, concurrent: int, rate: float, profiles: int, out: Path
) -> dict[str, Any]:
    """Runs the campaign and writes ``out`` (see the module docstring)."""
    from bench.campaign_sip import campaign_pids, rss_mb

    work = Path(tempfile.mkdtemp(prefix="campaign-spoken-"))
    spec = load_campaign(CAMPAIGN)
    plans = [profile(i, work) for i in range(profiles)]
    users = {f"c{k:04d}": plans[k % profiles][1] for k in range(n_contacts)}
    endpoint = f"http://127.0.0.1:{free_port()}/webhook"
    actions = ActionServer(
        endpoint, env={"VOICEBOT_VAR": str(work / "actions")}, log_path=work / "actions.log"
    )
    actions.start(timeout_s=180, reuse=False)
    line, port = start_line(work, spec.survey.as_dict(), users, rtp_ports=4 * concurrent + 20)
    try:
        text = CAMPAIGN.read_text().replace('window: {days: mon-sun, hours: "08:00-21:00"}', "")
        (work / "campaign.yml").write_text(
            text + "window: {days: mon-sun, hours: '00:00-24:00'}\ncaller_id: '+441632960000'\n"
            f"pacing: {{max_concurrent: {concurrent}, max_rate_per_s: {rate}}}\n"
            "retries: {busy: {delay_s: 5, max: 0}, no_answer: {delay_s: 5, max: 0},"
            " failed: {delay_s: 5, max: 0}}\nmachine: {action: hangup}\n"
        )
        (work / "contacts.csv").write_text(
            "phone,name,timezone,language\n"
            + "".join(f"sip:{u}@127.0.0.1:{port},Ann,Europe/London,en\n" for u in users)
        )
        dialers = -(-concurrent // 4)
        base, rtp = free_port(dialers + 1), free_port(dialers * 60)
        (work / "settings.yml").write_text(
            "sip:\n  media_timeout_s: 120\n  log_level: 0\nservices:\n  mode: inprocess\n"
            f"dialog:\n  action_endpoint: {endpoint}\n"
            f"outbound:\n  ring_timeout_s: 8\n  base_port: {base}\n  rtp_base_port: {rtp}\n"
            "  rtp_ports: 60\n  survey: spoken\n  start_timeout_s: 600\n"
        )
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "VOICEBOT_VAR": str(work / "var"),
            "VOICEBOT_CONFIG": str(work / "settings.yml"),
        }
        cli = [sys.executable, "-m", "voicebot.cli", "campaign"]
        subprocess.run(
            [*cli, "import", "campaign.yml", "contacts.csv"], cwd=work, env=env, check=True
        )
        store = work / "var" / "campaigns.sqlite3"
        load_before = os.getloadavg()
        started = time.time()
        proc = subprocess.Popen(
            [*cli, "start", spec.name], cwd=work, env=env, stdout=subprocess.PIPE, text=True
        )
        peak_mb = 0.0
        while proc.poll() is None:
            peak_mb = max(peak_mb, rss_mb(campaign_pids(store, proc.pid)))
            time.sleep(2.0)
        ended = time.time()
        wall = ended - started
        funnel = proc.communicate()[0]
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_after = os.getloadavg()
    finally:
        stop_line(line)
        actions.stop()
    rows = contacts(store)
    answered = [json.loads(x) for x in (work / "invites.jsonl").read_text().splitlines()]
    invites = Counter(x["user"] for x in answered)
    calling_s = max(1.0, ended - min((x.get("t", started) for x in answered), default=started))
    turns = [json.loads(x) for x in (work / "turns.jsonl").read_text().splitlines()]
    by_type: dict[str, list[int]] = {}
    by_kind: dict[str, list[int]] = {}
    wrong: list[str] = []
    completed = 0
    for k, user in enumerate(users):
        kind, _, meant = plans[k % profiles]
        row = rows[f"sip:{user}@127.0.0.1:{port}"]
        completed += any("completed" in d for d in row["details"])
        for q, value in meant.items():
            got = row["answers"].get(q)
            ok = bool(got) if value == "*" else got == value
            for group, key in ((by_type, TYPE_OF[q]), (by_kind, kind)):
                group.setdefault(key, [0, 0])
                group[key][0] += ok
                group[key][1] += 1
            if not ok:
                wrong.append(f"{user} ({kind}) {q}: meant {value}, stored {got}")
    right = sum(a for a, _ in by_type.values())
    total = sum(b for _, b in by_type.values())
    failed = sorted({t["user"] for t in turns if "went wrong" in t["heard"].lower()})
    wrong_in_failed = sum(1 for w in wrong if w.split()[0] in failed)
    total_in_failed = sum(len(plans[k % profiles][2]) for k, u in enumerate(users) if u in failed)
    right_in_failed = total_in_failed - wrong_in_failed
    total_ok_calls = total - total_in_failed
    replies = Counter(
        "read-back yes" if t["reply"].endswith("-yes") else
        "read-back no" if t["reply"].endswith("-no") else
        "repeat (2nd take)" if t["reply"].endswith("-2") else
        "answer" if t["reply"].endswith("-1") else t["reply"] or f"silent ({t['asked']})"
        for t in turns
    )  # fmt: skip
    decode = sorted(t["decode_s"] for t in turns if t["decode_s"])
    result = {
        "what": "spoken survey campaign over SIP (voicebot campaign start) against listening"
        " pjsua2 respondents (tests/sip/survey_respondent.py)",
        "contacts": n_contacts,
        "respondent_profiles": profiles,
        "voices": f"{', '.join(REPORT_VOICES)} (synthetic report phrases); every"
        f" {HUMAN_EVERY}th profile says its rating and score in FSDD human recordings",
        "data": "reporting data only (bench/survey_asr.py REPORT phrases and voices, FSDD"
        " takes 1/11); nothing tuned on it",
        "max_concurrent": concurrent,
        "max_rate_per_s": rate,
        "wall_s": round(wall, 1),
        "calls": sum(len(r["results"]) for r in rows.values()),
        "calling_s": round(calling_s, 1),
        "calls_per_min": round(sum(len(r["results"]) for r in rows.values()) / (calling_s / 60), 2),
        "completed_surveys": completed,
        "completed_surveys_per_hour": round(completed / (calling_s / 3600), 1),
        "rates_note": "per calling time: from the first call answered to the campaign's end"
        " (wall_s also holds the dialer's start-up: loading Whisper, Rasa and Piper)",
        "answer_accuracy": round(right / max(1, total), 4),
        "answers_right": f"{right}/{total}",
        "right_by_question_type": {k: f"{a}/{b}" for k, (a, b) in by_type.items()},
        "right_by_respondent_kind": {k: f"{a}/{b}" for k, (a, b) in by_kind.items()},
        "wrong": wrong,
        "calls_where_the_bot_failed": failed,
        "calls_where_the_bot_failed_note": "the bot said 'something went wrong' and handed"
        " over (its dialog failed, e.g. a custom action request to the action server failed);"
        " the store records these as 'no consent'",
        "answer_accuracy_without_those_calls": round(
            (right - right_in_failed) / max(1, total_ok_calls), 4
        ),
        "wrong_answers_in_those_calls": wrong_in_failed,
        "respondent_turns": dict(replies),
        "respondent_prompt_decode_s_p50": decode[len(decode) // 2] if decode else None,
        "contacts_called_more_than_once": sum(1 for n in invites.values() if n > 1),
        "contacts_never_answered": sum(1 for u in users if invites.get(u, 0) == 0),
        "cpu_s_campaign_and_dialers": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb_campaign_and_dialers": round(peak_mb, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "note": "2 cores shared with other helpers' work and the respondents' own Whisper"
        " (which decodes every bot prompt): wall time and calls/min are pessimistic; the"
        " answer accuracy does not depend on load.",
        "command": f"python bench/campaign_sip.py --spoken --contacts {n_contacts}"
        f" --concurrent {concurrent} --rate {rate} --profiles {profiles}",
        "funnel": funnel.strip().splitlines()[-1] if funnel.strip() else "",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    (out.parent / (out.stem + "_turns.jsonl")).write_text(
        "".join(json.dumps(t) + "\n" for t in turns)
    )
    return result
