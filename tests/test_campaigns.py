"""Outbound campaigns without SIP: campaign files, contact lists, the durable store, the
dialer's pacing, windows, retries and do-not-call list, crash safety and the results.

Callees are simulated (voicebot.center.campaigns.simulation): placing calls over SIP with
the survey dialog is not built yet. The store, the dialer and the export are the real ones;
the crash test kills a real dialer process with SIGKILL.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from voicebot.center.campaigns.contacts import Contact, read_contacts
from voicebot.center.campaigns.dialer import CallOutcome, Dialer
from voicebot.center.campaigns.results import export_csv, report
from voicebot.center.campaigns.simulation import QUESTIONS, Respondents
from voicebot.center.campaigns.spec import CampaignSpec, load_campaign, parse_campaign
from voicebot.center.campaigns.store import CampaignStore
from voicebot.center.simulation import run_virtual
from voicebot.errors import ConfigError, DataError, StateError

ROOT = Path(__file__).resolve().parents[1]
MONDAY_9_UTC = datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()
ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Europe/Amsterdam"]


def spec(**over: object) -> CampaignSpec:
    raw = {
        "name": "csat",
        "dialog": "survey_csat",
        "window": {"days": "mon-sat", "hours": "09:00-20:00"},
        "pacing": {"max_concurrent": 6, "max_rate_per_s": 2},
        "retries": {
            "busy": {"delay_s": 600, "max": 2},
            "no_answer": {"delay_s": 1800, "max": 1},
            "failed": {"delay_s": 900, "max": 1},
        },
        "max_attempts": 4,
    }
    raw.update(over)
    return parse_campaign(raw, Path("csat.yml"))


def contacts(n: int, seed: int = 1) -> list[Contact]:
    rng = random.Random(seed)
    return [
        Contact(i + 2, f"+4416329{i:05d}", f"Person {i}", rng.choice(ZONES), "en") for i in range(n)
    ]


def campaign(tmp_path: Path, n: int, **over: object) -> CampaignStore:
    store = CampaignStore(tmp_path / "campaigns.sqlite3")
    store.import_campaign(spec(**over), contacts(n), MONDAY_9_UTC)
    return store


def dial(store: CampaignStore, callee: object) -> object:
    async def go():  # type: ignore[no-untyped-def]
        return await Dialer(store, "csat", callee, epoch=MONDAY_9_UTC).run()  # type: ignore[arg-type]

    return run_virtual(go())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "a b", "dialog": "x"}, "key 'name'"),
        ({"name": "a", "dialog": "Not An Intent"}, "key 'dialog'"),
        ({"name": "a", "dialog": "x", "pacing": {"max_concurrent": 0}}, "at least 1"),
        (
            {"name": "a", "dialog": "x", "window": {"days": "mon-fri", "hours": "25:00-26:00"}},
            "not a time of day",
        ),
        (
            {"name": "a", "dialog": "x", "retries": {"bussy": {"delay_s": 1, "max": 1}}},
            "retries.bussy",
        ),
        ({"name": "a", "dialog": "x", "machine": {"action": "message"}}, "machine.message"),
        ({"name": "a", "dialog": "x", "speed": 3}, "unknown key 'speed'"),
    ],
)
def test_campaign_file_mistakes_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_campaign(raw, Path("c.yml"))


def test_broken_campaign_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("name: a\ndialog: [unclosed\n")
    with pytest.raises(ConfigError, match="line"):
        load_campaign(path)


def test_bad_contact_rows_are_each_named(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "phone,name,timezone,language,plan\n"
        "+44 (0)1632 960001,Ann,Europe/London,en,gold\n"  # the (0) is not dialled
        "+441632960002,Ben,Europe/London,en,gold\n"
        "+44 1632-960002,Bea,Europe/London,en,silver\n"
        "sip:cat@127.0.0.1,Cat,Mars/Olympus,en,\n"
        "+31201234567,,Europe/Amsterdam,dutch,\n"
        "+12125550123,Dan,America/New_York,en\n"
        "\n"
        "0044 20 7946 0958,Eve,Europe/London,en,gold\n"
    )
    good, errors = read_contacts(path)
    assert [c.phone for c in good] == ["+441632960001", "+441632960002", "+442079460958"]
    assert good[0].fields == {"plan": "gold"}
    described = {(e.row, e.column) for e in errors}
    assert described == {(4, "phone"), (5, "timezone"), (6, "name"), (6, "language"), (7, "*")}
    assert "row 4, column 'phone': +441632960002 is also row 3" in " ".join(
        e.describe(path) for e in errors
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary", "binary|not UTF-8"),
        (b"name,timezone,language\nAnn,Europe/London,en\n", "no column 'phone'"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"phone,name,timezone,language,phone\n", "appears twice"),
    ],
)
def test_a_broken_contact_file_is_a_clear_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_contacts(path)


def test_pacing_window_and_every_answer(tmp_path: Path) -> None:
    store = campaign(tmp_path, 300)
    respondents = Respondents(seed=5, epoch=MONDAY_9_UTC)
    stats = dial(store, respondents)
    the_spec = store.spec("csat")
    rows, _ = store.rows("csat")
    assert respondents.peak <= the_spec.max_concurrent
    assert stats.peak_concurrent == the_spec.max_concurrent  # 300 contacts fill the lines
    db = store._tx  # read attempts directly
    with db() as conn:
        attempts = conn.execute(
            "SELECT a.started_at, c.timezone FROM attempts a JOIN contacts c"
            " ON c.id = a.contact_id ORDER BY a.started_at"
        ).fetchall()
    starts = [a["started_at"] for a in attempts]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 1 / the_spec.max_rate_per_s - 1e-6  # at most 2 new calls a second
    for a in attempts:  # every call inside 09:00-20:00 Mon-Sat of the contact's own zone
        local = datetime.fromtimestamp(a["started_at"], UTC).astimezone(ZoneInfo(a["timezone"]))
        assert local.weekday() < 6 and 9 <= local.hour < 20, (local, a["timezone"])
    assert stats.postponed > 0  # Tokyo and New York are outside the window at 09:00 UTC
    # every answer stored is the one the respondent gave, and none is missing
    for r in rows:
        assert r["answers"] == respondents.answers_given.get(r["phone"], {}), r["phone"]
    assert all(r["state"] in ("done", "dnc") for r in rows)


def test_retries_follow_the_campaign_and_stop_at_the_maximum(tmp_path: Path) -> None:
    store = campaign(tmp_path, 3)
    calls: dict[str, list[float]] = {}

    async def always_busy(contact, spec, answer):  # type: ignore[no-untyped-def]
        import asyncio

        calls.setdefault(contact.phone, []).append(asyncio.get_running_loop().time())
        return CallOutcome("busy", "486")

    dial(store, always_busy)
    for times in calls.values():
        assert len(times) == 3  # first try + 2 busy retries
        assert all(b - a >= 600 for a, b in zip(times, times[1:], strict=False))
    assert store.counts("csat") == {"contacts_done": 3, "attempts_busy": 9}


def test_do_not_call_is_checked_before_every_call_and_opt_outs_join_it(tmp_path: Path) -> None:
    store = campaign(tmp_path, 20)
    blocked = contacts(20)[3].phone
    store.add_dnc(blocked, "customer request", MONDAY_9_UTC)
    called: list[str] = []

    async def opt_out_all(contact, spec, answer):  # type: ignore[no-untyped-def]
        called.append(contact.phone)
        return CallOutcome("answered", opted_out=True)

    dial(store, opt_out_all)
    assert blocked not in called and len(called) == 19
    assert all(store.is_dnc(p) for p in called)
    # a second campaign with the same people calls nobody
    second = parse_campaign({"name": "winter", "dialog": "survey_csat"}, Path("w.yml"))
    store.import_campaign(second, contacts(20), MONDAY_9_UTC)

    async def must_not_ring(contact, spec, answer):  # type: ignore[no-untyped-def]
        raise AssertionError(f"called {contact.phone}")

    run_virtual(Dialer(store, "winter", must_not_ring, epoch=MONDAY_9_UTC).run())
    assert store.counts("winter") == {"contacts_dnc": 20}


CRASH_DIALER = """
import asyncio, sys
from voicebot.center.campaigns.dialer import Dialer
from voicebot.center.campaigns.simulation import Respondents
from voicebot.center.campaigns.store import CampaignStore
store = CampaignStore(sys.argv[1])
r = Respondents(seed=9, question_s=0.05, ring_s=0.05)
async def main():
    await Dialer(store, "csat", r).run()
asyncio.run(main())
"""


def test_a_killed_dialer_resumes_without_calling_anyone_twice_or_losing_answers(
    tmp_path: Path,
) -> None:
    store = campaign(
        tmp_path,
        400,
        window={"days": "daily", "hours": "00:00-24:00"},
        pacing={"max_concurrent": 8, "max_rate_per_s": 50},
    )
    script = tmp_path / "dialer.py"
    script.write_text(CRASH_DIALER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(store.path)], env=env, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill it once some answers are in
        if store.counts("csat").get("attempts_answered", 0) >= 20:
            break
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with store._tx() as db:
        before = {
            r["contact_id"]: r["n"]
            for r in db.execute("SELECT contact_id, COUNT(*) AS n FROM answers GROUP BY contact_id")
        }
        in_flight = [
            r[0] for r in db.execute("SELECT contact_id FROM attempts WHERE result = 'dialing'")
        ]
    assert in_flight, "the kill should have cut calls in progress"

    respondents = Respondents(seed=9, question_s=0.05, ring_s=0.05)
    run_virtual(Dialer(store, "csat", respondents).run())
    with store._tx() as db:
        reached = db.execute(
            "SELECT contact_id, COUNT(*) AS n FROM attempts WHERE result IN"
            " ('answered', 'machine', 'interrupted')"
            " AND COALESCE(detail, '') NOT LIKE '%callback booked%'"  # the callee's own wish
            " GROUP BY contact_id HAVING n > 1"
        ).fetchall()
        after = {
            r["contact_id"]: r["n"]
            for r in db.execute("SELECT contact_id, COUNT(*) AS n FROM answers GROUP BY contact_id")
        }
        interrupted = db.execute(
            "SELECT COUNT(*) FROM attempts WHERE result = 'interrupted'"
        ).fetchone()[0]
        redialled = db.execute(
            "SELECT COUNT(*) FROM attempts a JOIN attempts b ON a.contact_id = b.contact_id"
            " WHERE a.result = 'interrupted' AND b.id > a.id"
        ).fetchone()[0]
    assert not reached  # nobody reached (or possibly reached) was called again
    assert interrupted == len(in_flight) and redialled == 0
    assert all(after.get(c, 0) >= n for c, n in before.items())  # no answer lost
    rows, _ = store.rows("csat")
    assert all(r["state"] in ("done", "dnc") for r in rows)
    # the answers a killed call had recorded are still the ones given
    for r in rows:
        for question, value in r["answers"].items():
            options = dict(QUESTIONS).get(question, ["yes", "no"])
            assert value in options


def test_export_and_report(tmp_path: Path) -> None:
    store = campaign(tmp_path, 120)
    respondents = Respondents(seed=2, epoch=MONDAY_9_UTC)
    dial(store, respondents)
    out = tmp_path / "results.csv"
    assert export_csv(store, "csat", out) == 120
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    completed = [r for r in rows if r.get("answer_completed") == "yes"]
    result = report(store, "csat")
    funnel = result["funnel"]
    assert funnel["contacts"] == 120 and funnel["dialled"] == 120
    assert funnel["completed"] == len(completed) > 0
    assert funnel["completed"] <= funnel["consented"] <= funnel["answered"] <= funnel["dialled"]
    given = sum(1 for a in respondents.answers_given.values() if "satisfaction" in a)
    assert sum(result["answers"]["satisfaction"].values()) == given


def test_export_cells_cannot_become_spreadsheet_formulas(tmp_path: Path) -> None:
    store = CampaignStore(tmp_path / "campaigns.sqlite3")
    hostile = Contact(2, "+441632960001", '=HYPERLINK("http://x","y")', "Europe/London", "en")
    hostile.fields["note"] = "@SUM(A1)"
    store.import_campaign(spec(), [hostile], MONDAY_9_UTC)
    out = tmp_path / "results.csv"
    assert export_csv(store, "csat", out) == 1
    with open(out, newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["name"] == '\'=HYPERLINK("http://x","y")'
    assert row["note"] == "'@SUM(A1)"
    assert row["phone"] == "+441632960001"  # a phone number stays a number


def test_the_command_line_imports_refuses_bad_rows_and_exports(tmp_path: Path) -> None:
    camp = tmp_path / "c.yml"
    camp.write_text("name: cli\ndialog: survey_csat\nwindow: {days: daily, hours: '00:00-24:00'}\n")
    good = tmp_path / "good.csv"
    good.write_text("phone,name,timezone,language\n+441632960001,Ann,Europe/London,en\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("phone,name,timezone,language\nnope,Ann,Europe/London,en\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VOICEBOT_VAR": str(tmp_path / "var")}
    voicebot = [sys.executable, "-m", "voicebot.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*voicebot, "campaign", *args], env=env, capture_output=True, text=True, timeout=120
        )

    refused = run("import", str(camp), str(bad))
    assert refused.returncode == 2 and "row 2, column 'phone'" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert run("import", str(camp), str(good)).returncode == 0
    # `start` without --simulate dials over SIP: tests/sip/test_campaign_sip.py
    started = run("start", "cli", "--simulate", "4")
    assert started.returncode == 0, started.stderr
    exported = run("export", "cli", "--out", str(tmp_path / "out"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "out" / "report.png").stat().st_size > 1000


def test_a_paused_campaign_is_not_started_again_by_the_dialer(tmp_path: Path) -> None:
    store = campaign(tmp_path, 5)
    store.set_state("csat", "paused")
    respondents = Respondents(seed=3, epoch=MONDAY_9_UTC)
    with pytest.raises(StateError, match=r"campaign csat is paused; `voicebot campaign resume"):
        dial(store, respondents)
    assert store.state("csat") == "paused"
    assert sum(respondents.calls.values()) == 0
    assert not any(k.startswith("attempts_") for k in store.counts("csat"))
    store.set_state("csat", "ready")  # what `voicebot campaign resume` does
    dial(store, respondents)
    assert sum(respondents.calls.values()) >= 5 and store.state("csat") in ("ready", "done")


def test_the_command_line_refuses_to_start_a_paused_campaign(tmp_path: Path) -> None:
    camp = tmp_path / "c.yml"
    camp.write_text(
        "name: held\ndialog: survey_csat\nwindow: {days: daily, hours: '00:00-24:00'}\n"
    )
    people = tmp_path / "people.csv"
    people.write_text("phone,name,timezone,language\n+441632960001,Ann,Europe/London,en\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VOICEBOT_VAR": str(tmp_path / "var")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "voicebot.cli", "campaign", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert run("import", str(camp), str(people)).returncode == 0
    assert run("pause", "held").returncode == 0
    for start in (("start", "held", "--simulate", "4"), ("start", "held")):  # simulated, SIP
        refused = run(*start)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.startswith(
            "error[state-conflict]: campaign held is paused; `voicebot campaign resume held`"
            " resumes it"
        ), refused.stderr
        assert "Traceback" not in refused.stderr and refused.stdout == ""
    assert "held (paused)" in run("status", "held").stdout
    store = CampaignStore(tmp_path / "var" / "campaigns.sqlite3")
    assert not any(k.startswith("attempts_") for k in store.counts("held"))  # nobody called
    assert run("resume", "held").returncode == 0
    started = run("start", "held", "--simulate", "4")
    assert started.returncode == 0, started.stderr
    assert "placed 1 calls" in started.stdout
