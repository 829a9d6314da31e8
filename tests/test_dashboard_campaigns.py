"""The dashboard's Campaigns pages without a browser: aiohttp's test client against the real
app, the real campaign store (SQLite in a tmp folder) holding a campaign imported from CSV +
YAML and dialled by the real dialer against simulated respondents (see _campaign_web.py)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path
from typing import Any

from _campaign_web import make_campaign
from aiohttp.test_utils import TestClient, TestServer

from voicebot.center.campaigns.results import report
from voicebot.messages import MessageStore
from voicebot.records.store import RecordStore
from voicebot.web.app import make_app
from voicebot.web.auth import User, UserDirectory
from voicebot.web.common import SESSION_COOKIE


def _app(tmp: Path, campaigns: Path) -> Any:
    return make_app(
        RecordStore(f"sqlite:///{tmp / 'records.sqlite3'}"),
        MessageStore(tmp / "messages.sqlite3"),
        UserDirectory(tmp / "users.yml"),
        housekeeping=False,
        campaigns_path=campaigns,
    )


async def _client(app: Any, role: str) -> tuple[TestClient, str]:
    """A client logged in as a supervisor or an agent (a real session of the app); returns
    it and the login's CSRF token."""
    user = User("sam", "supervisor") if role == "supervisor" else User("bea", "agent", "billing")
    token, login = app["dash"].sessions.create(user)
    client = TestClient(TestServer(app, host="127.0.0.1"), cookies={SESSION_COOKIE: token})
    await client.start_server()
    return client, login.csrf


def test_a_missing_store_shows_no_campaigns_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "var" / "campaigns.sqlite3"

    async def go() -> None:
        app = _app(tmp_path, path)
        client, _ = await _client(app, "supervisor")
        try:
            resp = await client.get("/campaigns")
            assert resp.status == 200
            text = await resp.text()
            assert "No campaigns" in text and 'href="/campaigns"' in text
            assert (await client.get("/campaigns/webcsat")).status == 404
            assert (await client.get("/campaigns/webcsat/results.csv")).status == 404
        finally:
            await client.close()

    asyncio.run(go())
    assert not path.exists()


def test_an_empty_store_shows_no_campaigns(tmp_path: Path) -> None:
    from voicebot.center.campaigns.store import CampaignStore

    CampaignStore(tmp_path / "campaigns.sqlite3").close()

    async def go() -> str:
        app = _app(tmp_path, tmp_path / "campaigns.sqlite3")
        client, _ = await _client(app, "supervisor")
        try:
            resp = await client.get("/campaigns")
            assert resp.status == 200
            return await resp.text()
        finally:
            await client.close()

    assert "No campaigns" in asyncio.run(go())


def test_agents_get_403_and_anonymous_users_the_login(tmp_path: Path) -> None:
    store = make_campaign(tmp_path, 4, dial=False)

    async def go() -> None:
        app = _app(tmp_path, store.path)
        client, csrf = await _client(app, "agent")
        try:
            for url in ("/campaigns", "/campaigns/webcsat", "/campaigns/webcsat/results.csv",
                        "/campaigns/webcsat/report.png"):  # fmt: skip
                assert (await client.get(url)).status == 403, url
            resp = await client.post("/campaigns/webcsat/pause", data={"csrf": csrf})
            assert resp.status == 403
            page = await (await client.get("/messages")).text()
            assert "/campaigns" not in page  # not in the agents' navigation
            client.session.cookie_jar.clear()
            resp = await client.get("/campaigns", allow_redirects=False)
            assert resp.status == 303 and resp.headers["Location"].startswith("/login")
        finally:
            await client.close()

    asyncio.run(go())
    assert store.state("webcsat") == "ready"


def test_supervisor_sees_the_funnel_pauses_resumes_and_exports(tmp_path: Path) -> None:
    store = make_campaign(tmp_path, 24)
    expected = report(store, "webcsat")
    assert expected["funnel"]["completed"] > 0  # the simulation gave answers to show

    async def go() -> None:
        app = _app(tmp_path, store.path)
        client, csrf = await _client(app, "supervisor")
        try:
            text = await (await client.get("/campaigns")).text()
            row = re.search(r"<tr><td><a href=\"/campaigns/webcsat\">.*?</tr>", text)
            assert row is not None, text
            cells = re.findall(r"<td>(.*?)</td>", row.group(0))
            assert "state-done" in cells[1] or "state-ready" in cells[1]
            numbers = [int(c) for c in cells[2:9]]
            assert numbers == list(expected["funnel"].values())

            # pause/resume work in any state the command line allows; CSRF is required
            resp = await client.post("/campaigns/webcsat/pause", allow_redirects=False)
            assert resp.status == 403 and store.state("webcsat") != "paused"
            resp = await client.post(
                "/campaigns/webcsat/pause", data={"csrf": csrf}, allow_redirects=False
            )
            assert resp.status == 303 and store.state("webcsat") == "paused"
            text = await (await client.get("/campaigns")).text()
            assert "state-paused" in text and 'action="/campaigns/webcsat/resume"' in text
            resp = await client.post(
                "/campaigns/webcsat/resume", data={"csrf": csrf}, allow_redirects=False
            )
            assert resp.status == 303 and store.state("webcsat") == "ready"
            resp = await client.post("/campaigns/nope/pause", data={"csrf": csrf})
            assert resp.status == 404

            resp = await client.get("/campaigns/webcsat/results.csv")
            assert resp.status == 200 and resp.content_type == "text/csv"
            assert "attachment" in resp.headers["Content-Disposition"]
            rows = list(csv.DictReader(io.StringIO(await resp.text())))
            want, _ = store.rows("webcsat")
            assert [r["phone"] for r in rows] == [w["phone"] for w in want]
            assert all(r["plan"] == "gold" for r in rows)
            answered = [r for r in rows if r["answer_satisfaction"]]
            assert len(answered) == sum(expected["answers"]["satisfaction"].values()) > 0

            text = await (await client.get("/campaigns/webcsat")).text()
            table = re.search(r'<table class="answers answers-satisfaction">.*?</table>', text)
            assert table is not None
            shown = dict(re.findall(r"<tr><td>(\w+)</td><td>(\d+)</td>", table.group(0)))
            assert {k: int(v) for k, v in shown.items()} == expected["answers"]["satisfaction"]
            png = await client.get("/campaigns/webcsat/report.png")
            assert png.status == 200 and (await png.read())[:8] == b"\x89PNG\r\n\x1a\n"
        finally:
            await client.close()

    asyncio.run(go())


def test_a_broken_store_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "campaigns.sqlite3"
    path.write_bytes(b"this is not a database" * 100)

    async def go() -> tuple[int, str, int]:
        app = _app(tmp_path, path)
        client, _ = await _client(app, "supervisor")
        try:
            resp = await client.get("/campaigns")
            again = await client.get("/login")  # the dashboard still answers
            return resp.status, await resp.text(), again.status
        finally:
            await client.close()

    status, text, after = asyncio.run(go())
    assert status == 503 and "error[store-failed]" in text and str(path) in text
    assert "Traceback" not in text and after == 200
