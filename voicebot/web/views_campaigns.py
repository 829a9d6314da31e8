"""Supervisors' view of outbound campaigns: every campaign in the campaign store with its
state and completion funnel, Pause / Resume (what ``voicebot campaign pause|resume`` does),
the results CSV (what ``voicebot campaign export`` writes) and a page per campaign with its
answer distributions and the report's plot.

The store is ``var/campaigns.sqlite3`` (or the path given to ``make_app``). A missing store
is shown as "No campaigns" and is not created by looking at the page.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from voicebot.center.campaigns import results
from voicebot.center.campaigns.store import CampaignStore
from voicebot.errors import DataError
from voicebot.paths import var_dir
from voicebot.web.auth import Login
from voicebot.web.common import Dashboard, blocking, dash, require, require_post
from voicebot.web.html import csrf_field, h, layout, q, table

_OPENING = threading.Lock()


def store_path(d: Dashboard) -> Path:
    return d.campaigns_path or var_dir() / "campaigns.sqlite3"


def _open_store(request: web.Request) -> CampaignStore | None:
    """The campaign store, or None while its file does not exist (blocking: run it through
    :func:`blocking`)."""
    d = dash(request)
    with _OPENING:
        if d.campaign_store is None:
            path = store_path(d)
            if not path.exists():
                return None
            d.campaign_store = CampaignStore(path)
        store: CampaignStore = d.campaign_store
        return store


def _overview(store: CampaignStore | None) -> list[tuple[str, str, dict[str, int]]]:
    """(name, state, funnel) of every campaign; [] without a store."""
    if store is None:
        return []
    return [
        (name, store.state(name), results.report(store, name)["funnel"])
        for name in store.campaigns()
    ]


def _control(login: Login, name: str, state: str) -> str:
    """The Pause button for a campaign that may dial, Resume for a paused one."""
    if state == "paused":
        action, label = "resume", "Resume"
    elif state in ("ready", "running"):
        action, label = "pause", "Pause"
    else:
        return ""
    return (
        f'<form method="post" action="/campaigns/{q(name)}/{action}" class="inline">'
        f'{csrf_field(login)}<button type="submit" name="do" value="{action}">{label}</button>'
        "</form>"
    )


async def campaigns_page(request: web.Request) -> web.Response:
    login = require(request, supervisor=True)
    store = await blocking(_open_store, request)
    overview = await blocking(_overview, store)
    if not overview:
        body = (
            '<p class="empty">No campaigns. Import one with'
            " <code>voicebot campaign import CAMPAIGN.yml CONTACTS.csv</code>.</p>"
        )
    else:
        headers = ["Campaign", "State", *[k.replace("_", " ") for k in results.FUNNEL], "", ""]
        rows = [
            (
                f'<a href="/campaigns/{q(name)}">{h(name)}</a>',
                f'<span class="state state-{h(state)}">{h(state)}</span>',
                *[h(funnel[k]) for k in results.FUNNEL],
                _control(login, name, state),
                f'<a href="/campaigns/{q(name)}/results.csv" download>CSV</a>',
            )
            for name, state, funnel in overview
        ]
        body = (
            "<p>Outbound survey campaigns. The funnel counts contacts. Pause stops new calls"
            " (calls in progress finish); Resume allows them again for the running dialer"
            " (<code>voicebot campaign start NAME</code>).</p>"
            + table(headers, rows, cls="campaigns")
        )
    return web.Response(
        text=layout("Campaigns", login, body, active="/campaigns"), content_type="text/html"
    )


async def _named(request: web.Request) -> tuple[CampaignStore, str]:
    """The store and the campaign named in the URL; 404 if there is no such campaign."""
    name = request.match_info["name"]
    store = await blocking(_open_store, request)
    if store is None or name not in await blocking(store.campaigns):
        raise web.HTTPNotFound(text=f"No campaign '{name}'.")
    return store, name


def _detail(store: CampaignStore, name: str) -> tuple[str, dict[str, Any]]:
    return store.state(name), results.report(store, name)


def _counts_table(title: str, counts: dict[str, Any], cls: str) -> str:
    rows = [(h(k.replace("_", " ")), h(v)) for k, v in counts.items()]
    return f"<h2>{h(title)}</h2>" + (
        table([title, "Count"], rows, cls=cls) if rows else '<p class="muted">none yet</p>'
    )


async def campaign_page(request: web.Request) -> web.Response:
    login = require(request, supervisor=True)
    store, name = await _named(request)
    state, report = await blocking(_detail, store, name)
    parts = [
        f'<p>State: <span class="state state-{h(state)}">{h(state)}</span> '
        f"{_control(login, name, state)} "
        f'<a href="/campaigns/{q(name)}/results.csv" download>Results CSV</a> · '
        '<a href="/campaigns">all campaigns</a></p>',
        _counts_table("Funnel", report["funnel"], "funnel"),
        _counts_table("Contacts by state", report["contacts"], "contacts"),
        _counts_table("Attempts by result", report["attempts"], "attempts"),
        "<h2>Answers</h2>",
    ]
    answers: dict[str, dict[str, int]] = report["answers"]
    if not answers:
        parts.append('<p class="muted">No answers yet.</p>')
    for question, counts in answers.items():
        total = sum(counts.values())
        keys = sorted(counts, key=lambda k: (len(k), k))
        rows = [(h(k), h(counts[k]), h(f"{100 * counts[k] / total:.0f}%")) for k in keys]
        parts.append(
            f"<h3>{h(question)}</h3>"
            + table(["Answer", "Contacts", "Share"], rows, cls=f"answers answers-{h(question)}")
        )
    parts.append(
        f'<h2>Plot</h2><img class="report" alt="funnel and answer distributions of {h(name)}"'
        f' src="/campaigns/{q(name)}/report.png">'
    )
    return web.Response(
        text=layout(f"Campaign {name}", login, "".join(parts), active="/campaigns"),
        content_type="text/html",
    )


async def campaign_control(request: web.Request) -> web.Response:
    """Pause (state ``paused``) or resume (state ``ready``), as the command line does."""
    await require_post(request, supervisor=True)
    store, name = await _named(request)
    action = request.match_info["action"]
    await blocking(store.set_state, name, "paused" if action == "pause" else "ready")
    raise web.HTTPSeeOther(request.headers.get("Referer") or "/campaigns")


def _export(store: CampaignStore, name: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="vb-campaign-") as tmp:
        path = Path(tmp) / "results.csv"
        results.export_csv(store, name, path)
        return path.read_bytes()


def _plot(store: CampaignStore, name: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="vb-campaign-") as tmp:
        path = Path(tmp) / "report.png"
        results.plot_report(results.report(store, name), path)
        return path.read_bytes()


async def campaign_csv(request: web.Request) -> web.Response:
    """The results CSV (one row per contact), as ``voicebot campaign export`` writes it."""
    require(request, supervisor=True)
    store, name = await _named(request)
    try:
        data = await blocking(_export, store, name)
    except DataError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    return web.Response(
        body=data,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{q(name)}-results.csv"'},
    )


async def campaign_plot(request: web.Request) -> web.Response:
    """The report's PNG: the funnel and each question's answer distribution."""
    require(request, supervisor=True)
    store, name = await _named(request)
    return web.Response(body=await blocking(_plot, store, name), content_type="image/png")


async def close_store(app: web.Application) -> None:
    """Close the campaign store's connection when the app stops."""
    d: Dashboard = app["dash"]
    if d.campaign_store is not None:
        d.campaign_store.close()
