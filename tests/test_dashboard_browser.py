"""The dashboard end to end: real calls, real records, a real browser.

Real components: the trained dialog model and action server, Whisper, Piper, the VAD and
the turn-taking of the replay suite's simulated line (virtual clock), the call recorder
writing to a SQLite file, the aiohttp dashboard on 127.0.0.1, and Debian's chromium driven
by selenium (headless). Screenshots are saved under reports/screenshots/.

Test doubles, and why: the crash test's line raises in the middle of a call (a crash cannot
be had otherwise); one call record holding markup in a caller turn is written directly
through the store (the ASR never transcribes angle brackets), while the caller ID with
markup comes in through a real call.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from _browser import chromium, served, submit_login

from voicebot.records.recorder import CallRecorder
from voicebot.records.retention import run_retention
from voicebot.records.store import RecordsConfig, RecordStore, utcnow
from voicebot.replay.cases import load_case
from voicebot.replay.simline import SimulatedLine

CASES = Path(__file__).resolve().parent / "audio"
SHOTS = Path(__file__).resolve().parents[1] / "reports" / "screenshots"
MARKUP_CALLER = '<img src=x onerror="window.pwned=1">+441632960099'
PASSWORDS = {"sam": "sam-secret-1", "bea": "bea-secret-1", "cora": "cora-secret-1"}

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def env(rasa_agent, frozen_now, tmp_path_factory, event_loop_runner) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """A pipeline whose calls are recorded in a fresh database, and the dashboard on it."""
    from voicebot.config import load_settings
    from voicebot.messages import MessageStore
    from voicebot.pipeline import Pipeline
    from voicebot.web.app import department_names, make_app
    from voicebot.web.auth import UserDirectory
    from voicebot.web.common import DashboardConfig

    os.environ["VOICEBOT_NOW"] = frozen_now
    tmp = tmp_path_factory.mktemp("dashboard")
    store = RecordStore(f"sqlite:///{tmp / 'records.sqlite3'}")
    pipeline = Pipeline.load(load_settings(), agent=rasa_agent)
    pipeline.recorder = CallRecorder(store)
    pipeline.bridge.desk.messages = MessageStore(tmp / "messages.sqlite3")
    users = UserDirectory(tmp / "users.yml")
    users.add("sam", PASSWORDS["sam"], "supervisor")
    users.add("bea", PASSWORDS["bea"], "agent", "billing")
    users.add("cora", PASSWORDS["cora"], "agent", "contracts")
    app = make_app(
        store,
        pipeline.bridge.desk.messages,
        UserDirectory(tmp / "users.yml"),
        DashboardConfig(live_interval_s=0.2),
        department_names=department_names(),
    )
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with served(app) as base:
        yield {
            "pipeline": pipeline,
            "store": store,
            "base": base,
            "calls": {},
            "loop": event_loop_runner,
        }
    pipeline.recorder.close()


@pytest.fixture(scope="module")
def supervisor(env) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def agent(env) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with chromium() as driver:
        yield driver


def login(driver: Any, base: str, user: str, password: str | None = None) -> None:
    submit_login(driver, base, user, password or PASSWORDS[user])


def wait_for(driver: Any, css: str, timeout: float = 60) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def opener_for(driver: Any) -> urllib.request.OpenerDirector:
    """urllib with the browser's session cookie (for downloads and raw responses)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
    opener.addheaders = [("Cookie", cookie)]
    return opener


def run_call(env: dict[str, Any], case_name: str, tag: str, **line_kw: Any) -> tuple[Any, Any]:
    """One real call of a recorded caller case; returns (CallResult, line)."""
    pipeline = env["pipeline"]
    case = load_case(CASES / f"{case_name}.yml")
    line = SimulatedLine(case, rate=pipeline.rate, call_id=f"dash-{tag}", **line_kw)
    session = pipeline.session(line)
    line.session_idle = session.idle
    result = env["loop"].run_until_complete(session.run())
    pipeline.recorder.flush()
    pipeline.bridge.forget(line.call_id)
    call = env["store"].find_call(line.call_id)
    assert call is not None, "the call left no record"
    env["calls"][tag] = call["id"]
    return result, line


# ---------------------------------------------------------------------------- tests


def test_login_is_required_and_a_wrong_password_is_refused(env, supervisor) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    base = env["base"]
    supervisor.get(f"{base}/live")
    assert "/login" in supervisor.current_url
    login(supervisor, base, "sam", "not-the-password")
    assert "Wrong user or password" in supervisor.find_element(By.TAG_NAME, "main").text
    login(supervisor, base, "sam")
    wait_for(supervisor, "#live-calls")
    assert supervisor.current_url.endswith("/live")
    # a form posted without the session's CSRF token is refused
    opener = opener_for(supervisor)
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(f"{base}/messages/1/done", b"csrf=wrong")
    assert err.value.code == 403


def test_a_call_shows_live_while_it_runs_then_in_the_statistics(env, supervisor) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    base = env["base"]
    supervisor.get(f"{base}/live")
    wait_for(supervisor, "#live-calls")
    seen: dict[str, Any] = {}
    done = threading.Event()

    def watch() -> None:
        from selenium.common.exceptions import WebDriverException

        while not done.is_set():
            try:  # the rows are replaced on every event: read them in one script
                rows = supervisor.execute_script(
                    "return [...document.querySelectorAll('#live-calls tbody tr[data-call]')]"
                    ".map(tr => [...tr.cells].map(td => td.textContent))"
                )
            except WebDriverException:
                rows = []
            for cells in rows:
                if "turns" not in seen and cells[1] == MARKUP_CALLER and int(cells[5]) >= 2:
                    seen["turns"] = " | ".join(cells)  # seen mid-call: 2+ turns
                    seen["at"] = time.monotonic()
                    supervisor.save_screenshot(str(SHOTS / "live.png"))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result, _ = run_call(env, "balance_keypad", "live", caller_id=MARKUP_CALLER)
        ended = time.monotonic()
    finally:
        done.set()
        watcher.join(30)
    assert result.outcome.kind == "resolved"
    assert "turns" in seen and seen["at"] < ended, "the call never showed on the live page"
    assert MARKUP_CALLER in seen["turns"]  # the caller ID's markup shown as text
    time.sleep(1.0)
    rows = supervisor.find_elements(By.CSS_SELECTOR, "#live-calls tbody tr[data-call]")
    assert not rows, "an ended call is still shown as live"
    supervisor.get(f"{base}/stats")
    cards = {
        c.find_element(By.CLASS_NAME, "k").text: c.find_element(By.CLASS_NAME, "v").text
        for c in supervisor.find_elements(By.CSS_SELECTOR, ".card")
    }
    assert int(cards["Calls"]) >= 1 and cards["Containment"] != "–"
    assert cards["Turn latency p50"].endswith(" ms")
    assert len(supervisor.find_elements(By.CSS_SELECTOR, "svg.chart")) == 5
    supervisor.save_screenshot(str(SHOTS / "stats.png"))


def test_the_call_page_shows_the_timeline_with_secrets_redacted(env, supervisor) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    call_id = env["calls"]["live"]
    supervisor.get(f"{env['base']}/calls/{urllib.parse.quote(call_id)}")
    main = supervisor.find_element(By.TAG_NAME, "main").text
    assert "resolved" in main and "check my balance" in main.lower()
    assert "12345678" not in main
    heard = [e.text for e in supervisor.find_elements(By.CSS_SELECTOR, ".timeline .heard")]
    assert heard.count("[redacted]") == 2, heard  # the account number and the PIN
    assert MARKUP_CALLER in main
    assert not supervisor.find_elements(By.CSS_SELECTOR, "main img")
    assert supervisor.execute_script("return window.pwned === undefined")
    supervisor.save_screenshot(str(SHOTS / "call.png"))


def test_a_caller_turn_with_markup_is_shown_as_text(env, supervisor) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    from voicebot.calllog import TurnLog
    from voicebot.records.recorder import turn_row

    store: RecordStore = env["store"]
    now = utcnow()
    evil = '<script>window.pwned=2</script><b onclick="x()">bold</b> & "quotes"'
    store.write("markup-call", start={"sip_call_id": "markup", "started_at": now,
                                      "start_hour": now.hour})  # fmt: skip
    entry = TurnLog(1, 1.0, 3.0, evil, 0.8, "speech", intent="nlu_fallback",
                    intent_confidence=0.2, bot=["Sorry, I didn't get that."])  # fmt: skip
    store.write("markup-call", turn_rows=[turn_row(entry, False, now)],
                call={"status": "ended", "outcome": "abandoned"})  # fmt: skip
    for page in ("/calls/markup-call", "/review"):
        supervisor.get(env["base"] + page)
        texts = [e.text for e in supervisor.find_elements(By.CSS_SELECTOR, ".heard")]
        assert evil in texts, (page, texts)
        assert not supervisor.find_elements(By.CSS_SELECTOR, "main b")
        assert supervisor.execute_script("return window.pwned === undefined")


def test_the_screen_pop_appears_when_a_call_is_transferred(env, agent) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base = env["base"]
    login(agent, base, "bea")
    wait_for(agent, "#agent-pops")
    assert agent.current_url.endswith("/agent")
    assert not agent.find_element(By.ID, "pop").is_displayed()
    result, line = run_call(env, "billing_route", "transfer")
    assert result.transfer == "billing:accepted"
    WebDriverWait(agent, 30).until(lambda d: d.find_element(By.ID, "pop").is_displayed())
    pop = agent.find_element(By.ID, "pop")
    assert pop.get_attribute("data-call") == env["calls"]["transfer"]
    assert "billing_question" in pop.text and "routed" in pop.text
    said = [li.text for li in pop.find_elements(By.CSS_SELECTOR, "ol li.caller")]
    assert said and "bill" in said[0].lower(), said
    agent.save_screenshot(str(SHOTS / "agent-screen-pop.png"))
    # the agent's phone gets the call reference in the transfer's SIP headers
    ref = line.transfers[0][1]["X-Voicebot-Call-Id"]
    agent.get(f"{base}/agent/call/{urllib.parse.quote(ref)}")
    text = agent.find_element(By.TAG_NAME, "main").text
    assert "billing_question" in text and "Verified" in text


def test_messages_inbox_mark_done_and_departments_kept_apart(env, agent) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    base = env["base"]
    result, _ = run_call(env, "cancel_out_of_hours_message", "message")
    assert result.outcome.kind == "message" and result.outcome.department == "contracts"
    login(agent, base, "cora")
    agent.get(f"{base}/messages")
    wait_for(agent, "table.messages")
    rows = agent.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")
    assert len(rows) == 1 and "contracts team" in rows[0].text, [r.text for r in rows]
    assert rows[0].find_element(By.CSS_SELECTOR, ".message-text").text.strip()
    agent.save_screenshot(str(SHOTS / "messages.png"))
    rows[0].find_element(By.CSS_SELECTOR, "form button").click()
    wait_for(agent, "table.messages")
    assert not agent.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")
    agent.get(f"{base}/messages?show=all")
    row = agent.find_element(By.CSS_SELECTOR, "table.messages tbody tr")
    assert "done by cora" in row.text  # marked, not deleted
    # the billing agent sees neither the message nor the contracts inbox
    login(agent, base, "bea")
    agent.get(f"{base}/messages?show=all")
    wait_for(agent, "table.messages")  # the inbox itself, not the login page
    assert not agent.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")
    agent.get(f"{base}/messages?department=contracts")
    assert "only see your own department" in agent.find_element(By.TAG_NAME, "body").text
    agent.get(f"{base}/calls/{urllib.parse.quote(env['calls']['message'])}")
    assert "not handed to your department" in agent.find_element(By.TAG_NAME, "body").text
    agent.get(f"{base}/stats")
    assert "for supervisors" in agent.find_element(By.TAG_NAME, "body").text


def test_review_export_metrics_and_csv(env, supervisor) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    base = env["base"]
    supervisor.get(f"{base}/review")
    assert supervisor.find_elements(By.CSS_SELECTOR, "input[name=turn]")
    supervisor.save_screenshot(str(SHOTS / "review.png"))
    token = supervisor.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    ids = [
        e.get_attribute("value")
        for e in supervisor.find_elements(By.CSS_SELECTOR, "input[name=turn]")
    ]
    opener = opener_for(supervisor)
    form = urllib.parse.urlencode([("csrf", token)] + [("turn", i) for i in ids]).encode()
    exported = yaml.safe_load(opener.open(f"{base}/review/export", form).read())
    assert exported["version"] == "3.1"
    examples = "".join(e["examples"] for e in exported["nlu"])
    assert "<script>" in examples and "[redacted]" not in examples
    metrics = urllib.request.urlopen(f"{base}/metrics").read().decode()
    assert re.search(r'^voicebot_calls_total\{outcome="resolved"\} [1-9]', metrics, re.M)
    assert re.search(r'^voicebot_calls_total\{outcome="routed"\} [1-9]', metrics, re.M)
    count = re.search(r"^voicebot_turn_latency_seconds_count (\d+)", metrics, re.M)
    assert count and int(count.group(1)) >= 6
    assert 'voicebot_turn_latency_seconds_bucket{le="+Inf"}' in metrics
    assert 'voicebot_stage_seconds_sum{stage="asr"}' in metrics
    csv_text = opener.open(f"{base}/calls.csv").read().decode()
    assert csv_text.splitlines()[0].startswith("id,sip_call_id")
    assert env["calls"]["transfer"] in csv_text and env["calls"]["live"] in csv_text
    assert 'onerror=""window.pwned=1""' in csv_text  # the caller ID, quoted as CSV data


def test_a_database_failure_never_breaks_a_call(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pipeline = env["pipeline"]
    broken = RecordStore(f"sqlite:///{tmp_path / 'broken.sqlite3'}")
    with broken.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE turns"))
        conn.execute(sa.text("DROP TABLE calls"))
    kept, pipeline.recorder = pipeline.recorder, CallRecorder(broken)
    try:
        case = load_case(CASES / "greet_and_goodbye.yml")
        line = SimulatedLine(case, rate=pipeline.rate, call_id="dash-broken-db")
        session = pipeline.session(line)
        line.session_idle = session.idle
        result = env["loop"].run_until_complete(session.run())
        pipeline.recorder.flush()
        pipeline.bridge.forget(line.call_id)
        assert pipeline.recorder.write_errors > 0
        assert result.outcome.kind == case.expect.outcome and not result.errors
        assert line.hung_up_by_bot or result.turns
    finally:
        pipeline.recorder.close()
        pipeline.recorder = kept


class PowerCut(BaseException):
    """The process dying: a BaseException, so the session's failure path (which hands the
    caller over on any Exception) does not run, as it would not in a killed process."""


class CrashingLine(SimulatedLine):
    """Raises :class:`PowerCut` (a stand-in for the process dying) once the session has two
    caller turns."""

    session: Any = None

    async def inputs(self):  # type: ignore[no-untyped-def,override]
        async for item in super().inputs():
            if self.session is not None and len(self.session.turn_logs) >= 2:
                raise PowerCut("power cut")
            yield item


def test_a_crash_mid_call_leaves_the_record_so_far(env) -> None:  # type: ignore[no-untyped-def]
    pipeline, store = env["pipeline"], env["store"]
    case = load_case(CASES / "balance_keypad.yml")
    line = CrashingLine(case, rate=pipeline.rate, call_id="dash-crash")
    session = pipeline.session(line)
    line.session = session
    line.session_idle = session.idle
    with pytest.raises(PowerCut, match="power cut"):
        env["loop"].run_until_complete(session.run())
    pipeline.recorder.flush()
    pipeline.bridge.forget(line.call_id)
    call = store.find_call("dash-crash")
    assert call is not None and call["status"] == "live"
    turns = store.call_turns(call["id"])
    assert len(turns) >= 2 and turns[1]["heard"] == "[redacted]"
    run_retention(store, RecordsConfig(stale_after_s=0.0))
    closed = store.get_call(call["id"])
    assert closed is not None and closed["outcome"] == "error"


def test_recording_silences_identification_answers_and_plays_on_the_call_page(
    env, supervisor
) -> None:  # type: ignore[no-untyped-def]
    import soundfile as sf
    from selenium.webdriver.common.by import By

    pipeline, store = env["pipeline"], env["store"]
    kept = pipeline.recorder.config
    pipeline.recorder.config = RecordsConfig(recording=True)
    try:
        result, _ = run_call(env, "balance_fsdd_account_pin", "recorded")
    finally:
        pipeline.recorder.config = kept
    call = store.get_call(env["calls"]["recorded"])
    assert call is not None and call["recording_path"]
    audio, rate = sf.read(call["recording_path"], dtype="int16")
    assert rate == pipeline.rate and audio.ndim == 2 and audio.shape[1] == 2
    caller, bot = audio[:, 0].astype(float), audio[:, 1].astype(float)
    turns = store.call_turns(call["id"])
    secret = [t for t in turns if t["redacted"] and t["source"] != "dtmf"]
    spoken = [t for t in turns if not t["redacted"] and t["source"] == "speech"]
    assert secret and spoken, [(t["heard"], t["source"]) for t in turns]

    def rms(channel: Any, t: dict[str, Any]) -> float:
        part = channel[int(t["start_s"] * rate) : int(t["end_s"] * rate)]
        return float((part**2).mean() ** 0.5) if len(part) else 0.0

    assert all(rms(caller, t) == 0.0 for t in secret)  # the account number and PIN: silence
    assert rms(caller, spoken[0]) > 100  # what else the caller said is kept
    assert float((bot**2).mean() ** 0.5) > 100  # the bot's side
    supervisor.get(f"{env['base']}/calls/{urllib.parse.quote(call['id'])}")
    player = supervisor.find_element(By.CSS_SELECTOR, "audio")
    src = player.get_attribute("src")
    data = opener_for(supervisor).open(src)
    assert data.headers["Content-Type"] == "audio/wav" and len(data.read()) > 44
    assert result.outcome.kind in ("resolved", "routed")
