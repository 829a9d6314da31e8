"""ACD statistics kept with the call records, and shown on the dashboard.

Real components: the SQLite agent board, the distributor and the statistics, a records
database migrated by Alembic, and the aiohttp dashboard on 127.0.0.1 read over HTTP with a
real login. Simulated, and why: the callers and the agents' phones of the queued calls
(voicebot.center.simulation, a virtual clock), so a day of queueing runs in a second; real
SIP calls through the queue write the same rows (bench/acd_sip.py).
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from voicebot.center.acd_stats import queue_figures
from voicebot.center.agents import load_agents
from voicebot.center.board import AgentBoard
from voicebot.center.simulation import AgentHabits, run_virtual, simulate_day
from voicebot.departments import load_departments
from voicebot.messages import MessageStore
from voicebot.records.acd import acd_figures, delete_stays_before, record_stay
from voicebot.records.store import RecordStore, utcnow
from voicebot.web.app import make_app
from voicebot.web.auth import UserDirectory

AGENTS = """
acd: {ring_timeout_s: 10, wrap_up_s: 20, service_level_s: 20, announce_every_s: 30,
      max_wait_s: 600}
agents:
  ann: {name: Ann, sip_user: ann, departments: [billing]}
  ben: {name: Ben, sip_user: ben, departments: [billing]}
  cat: {name: Cat, sip_user: cat, departments: [billing, sales]}
  dan: {name: Dan, sip_user: dan, departments: [sales]}
"""


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[RecordStore, dict]:
    """A simulated busy half hour: every queued call's stay written to the records."""
    path = tmp_path / "agents.yml"
    path.write_text(AGENTS)
    roster = load_agents(path, departments=set(load_departments().keys()))
    board = AgentBoard(tmp_path / "acd.sqlite3", roster)
    stays = run_virtual(
        simulate_day(
            board,
            ["billing", "sales"],
            30,
            600.0,
            seed=3,
            habits=AgentHabits(no_answer=0.15, refuse=0.0, talk_s_mean=90),
            patience_s=(20.0, 200.0),
        )
    )
    store = RecordStore(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    calls, _ = board.history(0.0, float("inf"))
    by_ref = {c["call_ref"]: c for c in calls}
    base = utcnow().replace(hour=0, minute=30, second=0, microsecond=0)
    for i, stay in enumerate(stays):
        entry = by_ref[f"sim-{i:05d}"]
        joined = base + timedelta(seconds=entry["joined_at"])
        record_stay(store, f"sim-{i:05d}", entry["department"], joined, stay, 20.0)
    return store, queue_figures(board).as_dict()


def test_the_records_agree_with_the_agent_board(recorded: tuple[RecordStore, dict]) -> None:
    store, board_figures = recorded
    day = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    fig = acd_figures(store, day, day + timedelta(days=1))
    assert fig.queued == board_figures["queued"] == 30
    for name in ("answered", "abandoned", "messages", "short_abandons", "answered_within_sl"):
        assert getattr(fig, name) == board_figures[name], name
    assert fig.abandoned > 0 and fig.answered > 0  # the day had both, or the test says little
    assert fig.service_level == pytest.approx(board_figures["service_level"])
    assert fig.wait_s_p95 == pytest.approx(board_figures["wait_s_p95"], abs=0.01)
    on_board = {a["agent"]: a for a in board_figures["agents"] if a["calls"] or a["missed"]}
    assert {a.agent for a in fig.agents} == set(on_board)
    for a in fig.agents:
        assert a.calls == on_board[a.agent]["calls"]
        assert a.talk_s == pytest.approx(on_board[a.agent]["talk_s"], abs=0.2)
        assert a.missed == on_board[a.agent]["missed"]
    assert sum(fig.by_department.values()) == 30
    # another day holds nothing; retention deletes the day's stays
    assert acd_figures(store, day - timedelta(days=1), day).queued == 0
    assert delete_stays_before(store, day + timedelta(days=1)) == 30


def test_the_dashboard_statistics_show_the_queues(
    recorded: tuple[RecordStore, dict], tmp_path: Path
) -> None:
    store, board_figures = recorded
    users = UserDirectory(tmp_path / "users.yml")
    users.add("sam", "sam-secret-1", "supervisor")
    app = make_app(store, MessageStore(tmp_path / "messages.sqlite3"), users, housekeeping=False)

    async def fetch() -> str:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            login = await (await client.get("/login?next=/stats")).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', login)
            assert csrf is not None
            resp = await client.post(
                "/login",
                data={"user": "sam", "password": "sam-secret-1", "csrf": csrf.group(1),
                      "next": "/stats"},
            )  # fmt: skip
            assert resp.status == 200 and resp.url.path == "/stats"
            return await resp.text()

    page = asyncio.run(fetch())
    cards = dict(
        (k, v)
        for v, k in re.findall(
            r'<div class="card" data-stat="[^"]*"><div class="v">([^<]*)</div>'
            r'<div class="k">([^<]*)</div>',
            page,
        )
    )
    assert cards["Queued calls"] == "30"
    assert cards["Service level (20 s)"] == f"{100 * board_figures['service_level']:.1f}%"
    assert cards["Abandoned in queue"] == str(board_figures["abandoned"])
    agents_table = page[page.index('class="acd-agents"') :]
    rows = re.findall(r"<tr><td>([a-z]+)</td><td>(\d+)</td>", agents_table)
    answered = {a["agent"]: a["calls"] for a in board_figures["agents"] if a["calls"]}
    assert {k: int(v) for k, v in rows if int(v)} == answered
