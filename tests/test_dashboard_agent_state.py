"""The agent's page of the dashboard: their ACD state with a pause / resume button, and the
"Recent hand-offs" table that grows as hand-offs pop up.

Real components: the aiohttp dashboard on 127.0.0.1, the real SQLite agent board (the one
the call workers use) and records store, Debian's chromium driven by selenium (headless).
Test double: the hand-off call record is written directly through the records store (no
call runs here; tests/test_dashboard_browser.py makes hand-offs from real calls).
The SIP side of a dashboard pause (a paused agent's phone is not rung) is in
tests/sip/test_agents_rotation.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _browser import chromium, served, submit_login

from voicebot.center.agents import load_agents
from voicebot.center.board import AgentBoard
from voicebot.records.store import RecordStore, utcnow

AGENTS = """agents:
  alice: {name: Alice Morgan, sip_user: alice, departments: [billing]}
  bilal: {name: Bilal Khan, sip_user: bilal, departments: [billing]}
"""
PASSWORDS = {"alice": "alice-dash-1", "bea": "bea-dash-1", "sam": "sam-dash-1"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from voicebot.messages import MessageStore
    from voicebot.web.app import make_app
    from voicebot.web.auth import UserDirectory
    from voicebot.web.common import DashboardConfig

    tmp = tmp_path_factory.mktemp("agent-state")
    (tmp / "agents.yml").write_text(AGENTS)
    board = AgentBoard(tmp / "acd.sqlite3", load_agents(tmp / "agents.yml"))
    board.register("alice", "sip:alice@127.0.0.1:5099", 3600, time.monotonic())
    store = RecordStore(f"sqlite:///{tmp / 'records.sqlite3'}")
    users = UserDirectory(tmp / "users.yml")
    users.add("alice", PASSWORDS["alice"], "agent", "billing")
    users.add("bea", PASSWORDS["bea"], "agent", "billing")  # no ACD agent
    users.add("sam", PASSWORDS["sam"], "supervisor")
    app = make_app(
        store, MessageStore(tmp / "messages.sqlite3"), UserDirectory(tmp / "users.yml"),
        DashboardConfig(live_interval_s=0.2), department_names={"billing": "Billing"},
        housekeeping=False, board=board,
    )  # fmt: skip
    with served(app) as base:
        yield {"base": base, "board": board, "store": store}


@pytest.fixture(scope="module")
def browser(env: dict[str, Any]) -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def login(driver: Any, base: str, user: str) -> None:
    submit_login(driver, base, user, PASSWORDS[user])


def _shown(driver: Any) -> str | None:
    """The state the page shows now (read in one go: the page may be reloading)."""
    return driver.execute_script(  # type: ignore[no-any-return]
        "const f = document.getElementById('agent-state'); return f ? f.dataset.state : null;"
    )


def _state(env: dict[str, Any], key: str) -> str:
    return next(s.state for s in env["board"].status(time.monotonic()) if s.key == key)


def test_agent_pauses_and_resumes_with_the_button(env: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    login(browser, env["base"], "alice")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "agent-state"))
    form = browser.find_element(By.ID, "agent-state")
    assert form.get_attribute("data-state") == "available" and "available" in form.text
    form.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(browser, 30).until(lambda d: _shown(d) == "paused")
    assert _state(env, "alice") == "paused"
    assert "Resume" in browser.find_element(By.ID, "agent-state").text
    # a POST without the page's CSRF token changes nothing
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/agent/state', {method: 'POST', body: new URLSearchParams({action: 'resume'})})"
        ".then(r => done(r.status));"
    )
    assert status == 403 and _state(env, "alice") == "paused"
    browser.find_element(By.CSS_SELECTOR, "#agent-state button").click()
    WebDriverWait(browser, 30).until(lambda d: _shown(d) == "available")
    assert _state(env, "alice") == "available"


def test_a_dashboard_user_who_is_no_agent_has_no_button(env: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    login(browser, env["base"], "bea")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "agent-pops"))
    assert not browser.find_elements(By.ID, "agent-state")
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const csrf = document.querySelector('input[name=csrf]').value;"
        "fetch('/agent/state', {method: 'POST', body: new URLSearchParams("
        "{action: 'pause', csrf: csrf})}).then(r => done(r.status));"
    )
    assert status == 403
    assert _state(env, "bilal") == "offline" and _state(env, "alice") == "available"


def test_recent_hand_offs_table_grows_with_the_pop(env: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    login(browser, env["base"], "alice")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "agent-pops"))
    assert not browser.find_elements(By.CSS_SELECTOR, "table.handoffs tbody tr")
    time.sleep(1.0)  # the hand-off is newer than the page
    now = utcnow()
    handoff = {
        "department": "billing", "intent": "billing_question", "reason": "routed",
        "summary": "Says she was charged twice", "created_at": now.isoformat(),
        "slots": {"customer_name": "Alice Morgan", "identified": True}, "transcript": [],
    }  # fmt: skip
    env["store"].write(
        "c-handoff-1",
        start={
            "started_at": now,
            "start_hour": now.hour,
            "caller_id": "0612345678",
            "sip_call_id": "sip-1",
        },
        call={"handoff": json.dumps(handoff), "department": "billing"},
    )
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "pop").is_displayed())
    rows = browser.find_elements(By.CSS_SELECTOR, "table.handoffs tbody tr")
    assert len(rows) == 1, [r.text for r in rows]
    assert "billing_question" in rows[0].text and "0612345678" in rows[0].text
    link = rows[0].find_element(By.TAG_NAME, "a").get_attribute("href")
    assert link.endswith("/agent/call/sip-1")
    # and the table a reload renders holds the same row
    browser.refresh()
    rows = browser.find_elements(By.CSS_SELECTOR, "table.handoffs tbody tr")
    assert len(rows) == 1 and "billing_question" in rows[0].text


def test_the_call_ringing_the_agents_phone_pops_up_on_their_page(
    env: dict[str, Any], browser: Any
) -> None:
    """The screen-pop follows the agent's own phone: when the board rings alice for a call,
    her page shows that caller's context, titled as ringing, listed once."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    board = env["board"]
    board.resume("alice", time.monotonic())  # as earlier tests left her: free
    login(browser, env["base"], "alice")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "agent-pops"))
    time.sleep(1.0)  # the hand-off is newer than the page
    now = utcnow()
    handoff = {
        "department": "billing", "intent": "contract_question", "reason": "routed",
        "summary": "Wants to end her contract", "created_at": now.isoformat(),
        "slots": {"customer_name": "Carla Diaz", "identified": True}, "transcript": [],
    }  # fmt: skip
    env["store"].write(
        "c-ring-1",
        start={"started_at": now, "start_hour": now.hour, "caller_id": "0699999999",
               "sip_call_id": "sip-ring-1"},
        call={"handoff": json.dumps(handoff), "department": "billing"},
    )  # fmt: skip
    board.join("c-ring-1", "billing", time.monotonic())
    offer = board.claim("c-ring-1", time.monotonic())
    assert offer is not None and offer.agent == "alice"  # bilal's phone is not registered

    def ringing_pop(d: Any) -> bool:
        return bool(
            d.execute_script(
                "const p = document.getElementById('pop');"
                "return p && !p.hidden && p.dataset.call === 'c-ring-1'"
                " && p.dataset.ringing === 'yes';"
            )
        )

    WebDriverWait(browser, 30).until(ringing_pop)
    pop = browser.find_element(By.ID, "pop")
    assert "ringing" in pop.find_element(By.TAG_NAME, "h2").text
    assert "contract_question" in pop.text and "Carla Diaz" in pop.text
    rows = browser.find_elements(By.CSS_SELECTOR, "table.handoffs tbody tr[data-call='c-ring-1']")
    assert len(rows) == 1
    board.offer_result(offer, "refused", time.monotonic())
