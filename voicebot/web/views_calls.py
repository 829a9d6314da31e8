"""Supervisors' views of calls: live calls (server-sent events), statistics with charts,
the list of calls with CSV export, one call's page and its recording."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from voicebot.paths import var_dir
from voicebot.records.acd import AcdFigures, acd_figures
from voicebot.records.stats import Stats, compute_stats
from voicebot.records.store import utcnow
from voicebot.web.charts import bar_chart, hbar_chart
from voicebot.web.common import blocking, dash, parse_range, range_form, require
from voicebot.web.html import fmt_ms, fmt_pct, fmt_s, fmt_time, h, layout, q, table

LIVE_HEADERS = ("Call", "Caller", "Duration", "Bot is", "Intent", "Turns")


def _live_json(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "id": c["id"],
            "caller_id": c["caller_id"],
            "duration_s": max((now - c["started_at"]).total_seconds(), 0.0),
            "doing": c["doing"],
            "current_intent": c["current_intent"],
            "turn_count": c["turn_count"],
        }
        for c in calls
    ]


async def live_page(request: web.Request) -> web.Response:
    login = require(request, supervisor=True)
    calls = _live_json(await blocking(dash(request).store.live_calls))
    rows = [
        (
            f'<a href="/calls/{q(c["id"])}">{h(c["id"])}</a>',
            h(c["caller_id"]),
            fmt_s(c["duration_s"]),
            h(c["doing"]),
            h(c["current_intent"]),
            h(c["turn_count"]),
        )
        for c in calls
    ]
    body = (
        f'<p>Calls in progress: <b id="live-count">{len(calls)}</b> '
        '<span class="muted">(updated every second)</span></p>'
        f'<div id="live-calls" data-events="/events/live">{table(LIVE_HEADERS, rows)}</div>'
    )
    return web.Response(
        text=layout("Live calls", login, body, active="/live"), content_type="text/html"
    )


async def live_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the list of live calls, every ``dashboard.live_interval_s``."""
    require(request, supervisor=True)
    d = dash(request)
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await resp.prepare(request)
    try:
        while True:
            calls = _live_json(await blocking(d.store.live_calls))
            payload = json.dumps(calls, default=str)
            await resp.write(f"event: calls\ndata: {payload}\n\n".encode())
            await asyncio.sleep(d.cfg.live_interval_s)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return resp


def _cards(st: Stats) -> str:
    items = [
        ("Calls", str(st.calls)),
        ("In progress", str(st.live)),
        ("Containment", fmt_pct(st.containment)),
        ("Hand-offs", str(st.handoffs)),
        ("Abandoned", str(st.abandoned)),
        ("Errors", str(st.outcomes.get("error", 0))),
        ("Average length", fmt_s(st.avg_duration_s)),
        ("Turn latency p50", fmt_ms(st.latency_p50_ms)),
        ("Turn latency p95", fmt_ms(st.latency_p95_ms)),
        ("ASR confidence", "–" if st.asr_confidence is None else f"{st.asr_confidence:.2f}"),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card" data-stat="{h(k)}"><div class="v">{h(v)}</div>'
            f'<div class="k">{h(k)}</div></div>'
            for k, v in items
        )
        + "</div>"
    )


def _acd_section(fig: AcdFigures, names: dict[str, str]) -> str:
    """The department queues (built-in ACD): service level, waits, abandoned, per agent."""
    if not fig.queued:
        return '<h2>Agent queues</h2><p class="acd-none">No call waited in a queue.</p>'
    sl = f"{fig.service_level_s:.0f} s" if fig.service_level_s is not None else "–"
    items = [
        ("Queued calls", str(fig.queued)),
        (f"Service level ({sl})", fmt_pct(fig.service_level)),
        ("Answered by agents", str(fig.answered)),
        ("Queue wait p50", fmt_s(fig.wait_s_p50)),
        ("Queue wait p95", fmt_s(fig.wait_s_p95)),
        ("Abandoned in queue", str(fig.abandoned)),
        ("Messages from queue", str(fig.messages)),
        ("Agent talk time mean", fmt_s(fig.talk_s_mean)),
    ]
    cards = (
        '<div class="cards acd">'
        + "".join(
            f'<div class="card" data-stat="{h(k)}"><div class="v">{h(v)}</div>'
            f'<div class="k">{h(k)}</div></div>'
            for k, v in items
        )
        + "</div>"
    )
    agents = table(
        ("Agent", "Calls", "Talk time", "Missed"),
        [(h(a.agent), str(a.calls), fmt_s(a.talk_s), str(a.missed)) for a in fig.agents],
        cls="acd-agents",
    )
    queues = ", ".join(f"{h(names.get(k, k))}: {n}" for k, n in sorted(fig.by_department.items()))
    return (
        f"<h2>Agent queues</h2>{cards}<p>Queued by department: {queues}; "
        f"{fig.short_abandons} short abandon(s) under 5 s are left out of the service level.</p>"
        f"{agents}"
    )


async def stats_page(request: web.Request) -> web.Response:
    login = require(request, supervisor=True)
    first, last, start, end = parse_range(request)
    st = await blocking(compute_stats, dash(request).store, start, end)
    acd = await blocking(acd_figures, dash(request).store, start, end)
    outcomes = ("resolved", "routed", "message", "abandoned", "error")
    names = dash(request).department_names
    query = f"from={first.isoformat()}&to={last.isoformat()}"
    charts = [
        bar_chart(outcomes, [st.outcomes.get(o, 0) for o in outcomes], title="Calls by outcome"),
        bar_chart(
            [f"{i:02d}" for i in range(24)],
            st.calls_per_hour,
            title="Calls per hour of day (UTC)",
            color="#4a9b5f",
        ),
        hbar_chart(
            sorted(
                ((names.get(k, k), v) for k, v in st.handoffs_by_department.items()),
                key=lambda kv: -kv[1],
            ),
            title="Hand-offs by department",
        ),
        hbar_chart(
            sorted(st.handoffs_by_reason.items(), key=lambda kv: -kv[1]),
            title="Hand-offs by reason",
        ),
        hbar_chart(st.top_intents, title="Top intents (caller turns)"),
    ]
    body = (
        range_form("/stats", first, last)
        + _cards(st)
        + f'<p><a href="/calls?{query}">List these calls</a> · '
        f'<a href="/calls.csv?{query}">Export CSV</a> · {st.turns} caller turns</p>'
        + '<div class="charts">'
        + "".join(charts)
        + "</div>"
        + _acd_section(acd, names)
    )
    return web.Response(
        text=layout("Statistics", login, body, active="/stats"), content_type="text/html"
    )


CALL_COLUMNS = (
    "id", "sip_call_id", "direction", "caller_id", "started_at", "answered_at", "ended_at",
    "duration_s", "status", "outcome", "department", "reason", "transfer_result", "turn_count",
)  # fmt: skip


async def calls_page(request: web.Request) -> web.Response:
    login = require(request, supervisor=True)
    first, last, start, end = parse_range(request)
    try:
        page = max(int(request.query.get("page", "1")), 1)
    except ValueError as exc:
        raise web.HTTPBadRequest(text="page must be a number") from exc
    size = 100
    rows = await blocking(
        dash(request).store.list_calls, start, end, limit=size + 1, offset=(page - 1) * size
    )
    more = len(rows) > size
    cells = [
        (
            f'<a href="/calls/{q(c["id"])}">{h(c["id"])}</a>',
            h(fmt_time(c["started_at"])),
            h(c["caller_id"]),
            fmt_s(c["duration_s"]),
            h(c["outcome"] or c["status"]),
            h(c["department"]),
            h(c["reason"]),
            h(c["transfer_result"]),
            h(c["turn_count"]),
        )
        for c in rows[:size]
    ]
    query = f"from={first.isoformat()}&to={last.isoformat()}"
    pager = ""
    if page > 1:
        pager += f'<a href="/calls?{query}&page={page - 1}">← newer</a> '
    if more:
        pager += f'<a href="/calls?{query}&page={page + 1}">older →</a>'
    body = (
        range_form("/calls", first, last)
        + f'<p><a href="/calls.csv?{query}">Export CSV</a></p>'
        + table(
            (
                "Call",
                "Started",
                "Caller",
                "Length",
                "Outcome",
                "Department",
                "Reason",
                "Transfer",
                "Turns",
            ),  # fmt: skip
            cells,
        )
        + f"<p>{pager}</p>"
    )
    return web.Response(
        text=layout("Calls", login, body, active="/calls"), content_type="text/html"
    )


def _csv_cell(value: Any) -> Any:
    """Spreadsheet-safe: text that a spreadsheet would run as a formula gets a ' first."""
    if isinstance(value, str) and value[:1] in ("=", "@", "\t", "\r", "+", "-"):
        if not (value[:1] in "+-" and value[1:].replace(" ", "").isdigit()):
            return "'" + value
    return value


async def calls_csv(request: web.Request) -> web.Response:
    require(request, supervisor=True)
    first, last, start, end = parse_range(request)
    rows = await blocking(dash(request).store.list_calls, start, end, limit=None)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CALL_COLUMNS)
    for r in rows:
        writer.writerow([_csv_cell(r[c]) for c in CALL_COLUMNS])
    name = f"calls-{first.isoformat()}-{last.isoformat()}.csv"
    return web.Response(
        text=buf.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _handoff_html(handoff: dict[str, Any] | None, names: dict[str, str]) -> str:
    if not handoff:
        return '<p class="muted">No hand-off.</p>'
    slots = handoff.get("slots") or {}
    facts = [
        ("Department", names.get(handoff.get("department") or "", handoff.get("department"))),
        ("Reason", handoff.get("reason")),
        ("Intent", handoff.get("intent")),
        ("Caller ID", handoff.get("caller_id")),
        ("Verified", "yes" if slots.get("identified") is True else "no"),
        ("Customer", slots.get("customer_name") or slots.get("account_number")),
        ("Summary", handoff.get("summary")),
        ("Department open", "yes" if handoff.get("is_open") else "no"),
        ("At", handoff.get("created_at")),
    ]
    rows = [(h(k), h(v)) for k, v in facts]
    slot_rows = [(h(k), h(v)) for k, v in sorted(slots.items())]
    transcript = "".join(
        f'<li class="{h(t.get("speaker"))}">{h(t.get("speaker"))}: {h(t.get("text"))}</li>'
        for t in handoff.get("transcript") or []
    )
    return (
        table(("Hand-off", ""), rows, cls="handoff")
        + (table(("Slot", "Value"), slot_rows) if slot_rows else "")
        + f'<h2>Transcript at the hand-off</h2><ol class="transcript">{transcript}</ol>'
    )


async def call_page(request: web.Request) -> web.Response:
    login = require(request)
    d = dash(request)
    call = await blocking(d.store.get_call, request.match_info["call_id"])
    if call is None:
        raise web.HTTPNotFound(text="No such call.")
    if not login.user.may_see_department(call["department"]):
        raise web.HTTPForbidden(text="This call was not handed to your department.")
    turns = await blocking(d.store.call_turns, call["id"])
    facts = [
        ("Call", call["id"]),
        ("SIP Call-ID", call["sip_call_id"]),
        ("Caller ID", call["caller_id"]),
        ("Direction", call["direction"]),
        ("Started", fmt_time(call["started_at"])),
        ("Answered", fmt_time(call["answered_at"])),
        ("Ended", fmt_time(call["ended_at"])),
        ("Length", fmt_s(call["duration_s"])),
        ("Outcome", call["outcome"] or call["status"]),
        ("Department", d.department_names.get(call["department"] or "", call["department"])),
        ("Hand-off reason", call["reason"]),
        ("Transfer result", call["transfer_result"]),
    ]
    summary = table(("", ""), [(h(k), h(v)) for k, v in facts], cls="facts")
    if call["errors"]:
        summary += "".join(f'<p class="error">{h(e)}</p>' for e in call["errors"])
    player = ""
    if call["recording_path"]:
        player = (
            '<h2>Recording</h2><p class="muted">Left: caller, right: bot; identification'
            " answers are silence.</p>"
            f'<audio controls preload="none" src="/calls/{q(call["id"])}/recording"></audio>'
        )
    timeline = []
    for text in json.loads(call["greeting"] or "[]"):
        timeline.append(("0.0 s", '<span class="bot">bot</span>', h(text), "", "", "", ""))
    for t in turns:
        intent = f"{h(t['intent'])} ({t['intent_confidence']:.2f})" if t["intent"] else "–"
        stages = (
            f"endpoint {t['endpoint_ms']:.0f} · asr {t['asr_ms']:.0f} · dialog "
            f"{t['dialog_ms']:.0f} · tts {t['tts_first_ms']:.0f}"
        )
        timeline.append(
            (
                f"{t['end_s']:.1f} s",
                f'<span class="caller">caller</span> <span class="muted">({h(t["source"])},'
                f" ASR {t['asr_confidence']:.2f})</span>",
                f'<span class="heard">{h(t["heard"])}</span>',
                intent,
                h(t["action"]),
                h(stages),
                fmt_ms(t["latency_ms"]),
            )
        )
        for text in t["bot"]:
            timeline.append(("", '<span class="bot">bot</span>', h(text), "", "", "", ""))
    body = (
        summary
        + player
        + "<h2>Timeline</h2>"
        + table(
            ("At", "Who", "Said", "Intent", "Action", "Stage times, ms", "Latency"),
            timeline,
            cls="timeline",
        )  # fmt: skip
        + "<h2>Hand-off record</h2>"
        + _handoff_html(call["handoff"], d.department_names)
    )
    return web.Response(text=layout(f"Call {call['id']}", login, body), content_type="text/html")


def safe_file(path: str | None) -> Path:
    """A stored recording path, only if it is a file under ``var/``."""
    if not path:
        raise web.HTTPNotFound(text="No recording.")
    resolved = Path(path).resolve()
    if not resolved.is_file() or not resolved.is_relative_to(var_dir().resolve()):
        raise web.HTTPNotFound(text="The recording is not available.")
    return resolved


async def call_recording(request: web.Request) -> web.FileResponse:
    login = require(request)
    call = await blocking(dash(request).store.get_call, request.match_info["call_id"])
    if call is None or not login.user.may_see_department(call["department"]):
        raise web.HTTPNotFound(text="No such call.")
    return web.FileResponse(
        safe_file(call["recording_path"]), headers={"Content-Type": "audio/wav"}
    )
