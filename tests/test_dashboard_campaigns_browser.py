"""The Campaigns page in a real browser: Debian's chromium driven by selenium (headless)
against the aiohttp dashboard on 127.0.0.1, over the real campaign store in a tmp var dir
(``VOICEBOT_VAR``; the page opens ``var/campaigns.sqlite3`` as ``voicebot campaign`` does).
The campaign is imported from CSV + YAML and dialled by the real dialer against simulated
respondents (no SIP here; see _campaign_web.py). Screenshots go to reports/screenshots/.
"""

from __future__ import annotations

import csv
import io
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import chromium, served, submit_login
from _campaign_web import make_campaign

from voicebot.center.campaigns.store import CampaignStore

SHOTS = Path(__file__).resolve().parents[1] / "reports" / "screenshots"
PASSWORDS = {"sam": "sam-secret-1", "bea": "bea-secret-1"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from voicebot.messages import MessageStore
    from voicebot.records.store import RecordStore
    from voicebot.web.app import make_app
    from voicebot.web.auth import UserDirectory

    tmp = tmp_path_factory.mktemp("campaignweb")
    var = tmp / "var"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VOICEBOT_VAR", str(var))
        # var/campaigns.sqlite3, the default store; half dialled, so it can be paused
        store = make_campaign(var, 12, stop_after=6)
        users = UserDirectory(tmp / "users.yml")
        users.add("sam", PASSWORDS["sam"], "supervisor")
        users.add("bea", PASSWORDS["bea"], "agent", "billing")
        app = make_app(
            RecordStore(f"sqlite:///{tmp / 'records.sqlite3'}"),
            MessageStore(tmp / "messages.sqlite3"),
            UserDirectory(tmp / "users.yml"),
            housekeeping=False,
        )
        SHOTS.mkdir(parents=True, exist_ok=True)
        with served(app) as base:
            yield {"base": base, "store": store, "downloads": tmp / "downloads"}
        store.close()


@pytest.fixture()
def browser(env: dict[str, Any]) -> Iterator[Any]:
    env["downloads"].mkdir(exist_ok=True)
    with chromium(downloads=env["downloads"]) as driver:
        yield driver


def _state_cell(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    row = driver.find_element(By.XPATH, "//table[@class='campaigns']//tr[td/a[.='webcsat']]")
    return str(row.find_elements(By.TAG_NAME, "td")[1].text)


def _press(driver: Any, label: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    button = driver.find_element(By.XPATH, f"//table[@class='campaigns']//button[.='{label}']")
    button.click()
    WebDriverWait(driver, 30).until(ec.staleness_of(button))  # the page after the POST


def test_supervisor_pauses_resumes_and_downloads_the_results(
    env: dict[str, Any], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    base, store = env["base"], env["store"]
    submit_login(browser, base, "sam", PASSWORDS["sam"])
    link = browser.find_element(By.CSS_SELECTOR, "nav a[href='/campaigns']")
    link.click()
    assert browser.current_url.endswith("/campaigns")
    assert store.state("webcsat") == "ready" and _state_cell(browser) == "ready"
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table.campaigns th")]
    assert headers[:4] == ["Campaign", "State", "contacts", "dialled"]
    cells = browser.find_elements(By.CSS_SELECTOR, "table.campaigns tbody td")
    assert int(cells[2].text) == 12  # contacts
    browser.save_screenshot(str(SHOTS / "campaigns.png"))

    _press(browser, "Pause")
    assert store.state("webcsat") == "paused"
    assert _state_cell(browser) == "paused"
    _press(browser, "Resume")
    assert store.state("webcsat") == "ready"
    assert _state_cell(browser) == "ready"

    browser.find_element(By.CSS_SELECTOR, "a[href='/campaigns/webcsat/results.csv']").click()
    target = env["downloads"] / "webcsat-results.csv"
    for _ in range(300):
        if target.exists() and target.stat().st_size:
            break
        time.sleep(0.1)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    want, questions = store.rows("webcsat")
    assert len(rows) == 12 and [r["phone"] for r in rows] == [w["phone"] for w in want]
    assert "satisfaction" in questions and any(r["answer_satisfaction"] for r in rows)
    assert any(r["state"] == "pending" for r in rows)  # half dialled
    assert [r["state"] for r in rows] == [w["state"] for w in want]
    for r, w in zip(rows, want, strict=True):
        for question in questions:
            assert r[f"answer_{question}"] == w["answers"].get(question, "")

    browser.find_element(By.CSS_SELECTOR, "a[href='/campaigns/webcsat']").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Campaign webcsat"
    browser.find_element(By.CSS_SELECTOR, "table.funnel")
    browser.save_screenshot(str(SHOTS / "campaign.png"))


def test_agent_gets_403(env: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    base = env["base"]
    submit_login(browser, base, "bea", PASSWORDS["bea"])
    assert not browser.find_elements(By.CSS_SELECTOR, "nav a[href='/campaigns']")
    browser.get(f"{base}/campaigns")
    assert "for supervisors" in browser.find_element(By.TAG_NAME, "body").text
    assert "webcsat" not in browser.page_source
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in browser.get_cookies())
    request = urllib.request.Request(f"{base}/campaigns", headers={"Cookie": cookie})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 403
    assert isinstance(env["store"], CampaignStore) and env["store"].state("webcsat") != "paused"
