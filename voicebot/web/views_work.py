"""Views for the people who act on calls: the message inbox (per department, mark done),
the review of caller turns the dialog did not understand (export as Rasa NLU YAML), the
agents' screen-pop, and ``/metrics`` for operators."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from voicebot.messages import StoredMessage
from voicebot.records.stats import compute_totals
from voicebot.records.store import utcnow
from voicebot.web import views_agent_state
from voicebot.web.common import blocking, dash, parse_range, range_form, require, require_post
from voicebot.web.html import csrf_field, fmt_time, h, layout, q, table
from voicebot.web.views_calls import _handoff_html, safe_file

# ---------------------------------------------------------------------------- messages


async def messages_page(request: web.Request) -> web.Response:
    login = require(request)
    d = dash(request)
    wanted = request.query.get("department") or None
    if login.user.is_supervisor:
        department = wanted
    else:
        if wanted and wanted != login.user.department:
            raise web.HTTPForbidden(text="You can only see your own department's messages.")
        department = login.user.department
    show_all = request.query.get("show") == "all"
    messages: list[StoredMessage] = await blocking(d.messages.all)
    marks = await blocking(d.store.message_marks)
    rows = []
    departments = sorted({m.department for m in messages})
    for m in reversed(messages):
        if department and m.department != department:
            continue
        mark = marks.get(m.id)
        done = mark is not None and mark["state"] == "done"
        if done and not show_all:
            continue
        if done:
            assert mark is not None
            status = (
                f'done by {h(mark["by"])}<br><span class="muted">{h(fmt_time(mark["at"]))}</span>'
            )
            action, label = "open", "Reopen"
        else:
            status, action, label = "open", "done", "Mark done"
        form = (
            f'<form method="post" action="/messages/{m.id}/{action}" class="inline">'
            f'{csrf_field(login)}<button type="submit">{label}</button></form>'
        )
        transcript = "".join(
            f'<li class="{h(t.speaker)}">{h(t.speaker)}: {h(t.text)}</li>' for t in m.transcript
        )
        recording = (
            f'<audio controls preload="none" src="/messages/{m.id}/recording"></audio>'
            if m.recording_path
            else ""
        )
        rows.append(
            (
                h(m.id),
                h(m.created_at[:19].replace("T", " ")),
                h(d.department_names.get(m.department, m.department)),
                h(m.caller_id),
                h(m.reason),
                f'<span class="message-text">{h(m.text)}</span>{recording}',
                f"<details><summary>{len(m.transcript)} lines</summary><ol>{transcript}</ol>"
                "</details>",
                status,
                form,
            )
        )
    picker = ""
    if login.user.is_supervisor:
        options = "".join(
            f'<option value="{h(k)}"{" selected" if k == department else ""}>'
            f"{h(d.department_names.get(k, k))}</option>"
            for k in departments
        )
        picker = (
            '<form class="filters" method="get" action="/messages">Department '
            f'<select name="department"><option value="">all</option>{options}</select> '
            '<label><input type="checkbox" name="show" value="all"'
            f"{' checked' if show_all else ''}>"
            ' show done</label> <button type="submit">Show</button></form>'
        )
    else:
        picker = (
            f"<p>Messages for <b>{h(d.department_names.get(department or '', department))}</b> · "
            f'<a href="/messages?show={"open" if show_all else "all"}">'
            f"{'hide' if show_all else 'show'} done</a></p>"
        )
    body = picker + table(
        (
            "#",
            "Left at (UTC)",
            "Department",
            "Caller",
            "Why",
            "Message",
            "Transcript",
            "Status",
            "",
        ),
        rows,
        cls="messages",
    )
    if not rows:
        body += '<p class="muted">No messages waiting.</p>'
    return web.Response(
        text=layout("Messages", login, body, active="/messages"), content_type="text/html"
    )


async def _message(request: web.Request) -> StoredMessage:
    try:
        message_id = int(request.match_info["message_id"])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc
    found = [m for m in await blocking(dash(request).messages.all) if m.id == message_id]
    if not found:
        raise web.HTTPNotFound(text="No such message.")
    return found[0]


async def message_mark(request: web.Request) -> web.Response:
    login, _ = await require_post(request)
    message = await _message(request)
    if not login.user.may_see_department(message.department):
        raise web.HTTPForbidden(text="You can only mark your own department's messages.")
    state = request.match_info["state"]
    await blocking(dash(request).store.mark_message, message.id, message.department, state,
                   login.user.name)  # fmt: skip
    raise web.HTTPSeeOther(request.headers.get("Referer") or "/messages")


async def message_recording(request: web.Request) -> web.FileResponse:
    login = require(request)
    message = await _message(request)
    if not login.user.may_see_department(message.department):
        raise web.HTTPNotFound(text="No such message.")
    return web.FileResponse(
        safe_file(message.recording_path), headers={"Content-Type": "audio/wav"}
    )


# ---------------------------------------------------------------------------- review


async def review_page(request: web.Request) -> web.Response:
    login = require(request, supervisor=True)
    d = dash(request)
    first, last, start, end = parse_range(request)
    rows = await blocking(d.store.review_turns, start, end, d.cfg.review_below,
                          d.cfg.not_understood)  # fmt: skip
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        understood = r["intent"] and r["intent"] not in d.cfg.not_understood
        key = f"low confidence: {r['intent']}" if understood else "not understood"
        groups[key].append(r)
    parts = [
        range_form("/review", first, last),
        f"<p>Caller turns the dialog did not understand, or understood with confidence below"
        f" {d.cfg.review_below:.2f}, grouped; tick some and export them as Rasa NLU YAML for"
        " labelling (nothing is added to nlu/ automatically). Identification answers are never"
        " listed.</p>",
        f'<form method="post" action="/review/export">{csrf_field(login)}',
        '<p><label><input type="checkbox" data-check-all> select all</label> '
        '<button type="submit">Export selected as NLU YAML</button></p>',
    ]
    for key in sorted(groups, key=lambda k: (-len(groups[k]), k)):
        # the same words heard in several calls are one line with a count
        same: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in groups[key]:
            same[" ".join(r["heard"].lower().split())].append(r)
        lines = []
        for _text, items in sorted(same.items(), key=lambda kv: -len(kv[1])):
            r = items[0]
            ids = ",".join(str(i["id"]) for i in items)
            lines.append(
                (
                    f'<input type="checkbox" name="turn" value="{h(ids)}">',
                    f'<span class="heard">{h(r["heard"])}</span>',
                    h(len(items)),
                    h(r["intent"] or "–"),
                    f"{r['intent_confidence'] or 0:.2f}",
                    f"{r['asr_confidence'] or 0:.2f}",
                    f'<a href="/calls/{q(r["call_id"])}">{h(r["call_id"])}</a>',
                )
            )
        parts.append(f"<h2>{h(key)} ({len(groups[key])})</h2>")
        parts.append(
            table(
                ("", "Caller said", "Times", "Intent", "Intent conf.", "ASR conf.", "Call"),
                lines,
                cls="review",
            )  # fmt: skip
        )
    if not groups:
        parts.append('<p class="muted">Nothing to review in this range.</p>')
    parts.append("</form>")
    return web.Response(
        text=layout("Review", login, "".join(parts), active="/review"), content_type="text/html"
    )


def nlu_yaml(turns: list[dict[str, Any]], not_understood: tuple[str, ...]) -> str:
    """Rasa NLU YAML (version 3.1) of caller turns, grouped by the intent the model guessed
    (``unlabelled`` when it had none): a starting point for a person to label."""
    groups: dict[str, list[str]] = defaultdict(list)
    for t in turns:
        intent = t["intent"] if t["intent"] and t["intent"] not in not_understood else "unlabelled"
        text = " ".join(str(t["heard"]).split())
        if text and text not in groups[intent]:
            groups[intent].append(text)
    lines = [
        'version: "3.1"',
        "# Exported from the voicebot dashboard's review page for labelling: check every",
        "# example's intent before moving it into nlu/ (nothing was added automatically).",
        "nlu:",
    ]
    for intent in sorted(groups):
        note = (
            "  # the model had no intent for these"
            if intent == "unlabelled"
            else ("  # guessed with low confidence: check")
        )
        lines.append(f"- intent: {intent}{note}")
        lines.append("  examples: |")
        lines += [f"    - {text}" for text in groups[intent]]
    return "\n".join(lines) + "\n"


async def review_export(request: web.Request) -> web.Response:
    _, form = await require_post(request, supervisor=True)
    ids: list[int] = []
    for value in form.getall("turn", []):
        try:
            ids += [int(x) for x in str(value).split(",") if x]
        except ValueError as exc:
            raise web.HTTPBadRequest(text="bad turn id") from exc
    if not ids:
        raise web.HTTPBadRequest(text="Select at least one turn to export.")
    d = dash(request)
    turns = await blocking(d.store.turns_by_id, ids)
    return web.Response(
        text=nlu_yaml(turns, d.cfg.not_understood),
        content_type="application/x-yaml",
        headers={"Content-Disposition": 'attachment; filename="review-nlu.yml"'},
    )


# ---------------------------------------------------------------------------- screen-pop


def pop_json(call: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    handoff = call["handoff"] or {}
    slots = handoff.get("slots") or {}
    customer = slots.get("customer_name") or slots.get("account_number")
    return {
        "id": call["id"],
        "ref": call["sip_call_id"] or call["id"],
        "caller": " · ".join(str(x) for x in (call["caller_id"], customer) if x),
        "verified": "verified" if slots.get("identified") is True else "not verified",
        "intent": handoff.get("intent"),
        "reason": handoff.get("reason"),
        "department": names.get(handoff.get("department") or "", handoff.get("department")),
        "summary": handoff.get("summary"),
        "at": str(handoff.get("created_at") or "")[:19].replace("T", " "),
        "transcript": handoff.get("transcript") or [],
    }


def _agent_department(request: web.Request) -> str | None:
    login = require(request)
    if login.user.is_supervisor:
        return request.query.get("department") or None
    return login.user.department


async def agent_page(request: web.Request) -> web.Response:
    login = require(request)
    d = dash(request)
    department = _agent_department(request)
    since = utcnow() - timedelta(days=1)
    recent = await blocking(d.store.handoffs, department, since, 20)
    rendered_at = utcnow().isoformat()
    name = d.department_names.get(department or "", department or "all departments")
    latest = pop_json(recent[0], d.department_names) if recent else None
    pop_fields = "".join(
        f'<tr><th>{h(label)}</th><td data-k="{key}">{h(latest[key] if latest else "")}</td></tr>'
        for key, label in (
            ("caller", "Caller"),
            ("verified", "Identity"),
            ("intent", "Intent"),
            ("reason", "Reason"),
            ("department", "Department"),
            ("summary", "Summary"),
            ("at", "Handed over at (UTC)"),
        )
    )
    transcript = "".join(
        f'<li class="{h(t.get("speaker"))}">{h(t.get("speaker"))}: {h(t.get("text"))}</li>'
        for t in (latest["transcript"] if latest else [])
    )
    events = f"/events/agent?after={q(rendered_at)}" + (
        f"&department={q(department)}" if department else ""
    )
    pop = (
        f'<div id="pop" class="pop"{"" if latest else " hidden"}'
        f' data-call="{h(latest["id"] if latest else "")}">'
        "<h2>Caller being transferred to you</h2>"
        f"<table>{pop_fields}</table><ol>{transcript}</ol>"
        f'<a class="open" href="/agent/call/{q(latest["ref"]) if latest else ""}">open</a></div>'
    )
    rows = [
        (
            h(str(c["handoff"].get("created_at", ""))[:19].replace("T", " ")),
            h(c["caller_id"]),
            h(c["handoff"].get("intent")),
            h(c["handoff"].get("reason")),
            h(d.department_names.get(c["department"] or "", c["department"])),
            f'<a href="/agent/call/{q(c["sip_call_id"] or c["id"])}">context</a>',
        )
        for c in recent
    ]
    state = await views_agent_state.state_box(request, login)
    body = (
        state + f"<p>Hand-offs to <b>{h(name)}</b>; a new one pops up here as it happens.</p>"
        f'<div id="agent-pops" data-events="{h(events)}"></div>'
        + pop
        + "<h2>Recent hand-offs (24 h)</h2>"
        + table(("At (UTC)", "Caller", "Intent", "Reason", "Department", ""), rows, cls="handoffs")
    )
    return web.Response(
        text=layout("Agent screen-pop", login, body, active="/agent"), content_type="text/html"
    )


async def agent_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: each new hand-off to the agent's department, once; and for a user
    who is an ACD agent, the call their phone rings for, once, when it starts ringing (the
    screen-pop of the caller being put through to them)."""
    require(request)
    d = dash(request)
    department = _agent_department(request)
    try:
        after = datetime.fromisoformat(request.query.get("after", ""))
    except ValueError:
        after = utcnow()
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await resp.prepare(request)
    seen: set[tuple[str, str]] = set()
    rung: set[str] = set()
    agent = views_agent_state.agent_key(request, d.board)
    try:
        while True:
            calls = await blocking(d.store.handoffs, department, after - timedelta(days=1), 20)
            for c in reversed(calls):
                created = str(c["handoff"].get("created_at") or "")
                key = (c["id"], created)
                when = datetime.fromisoformat(created).replace(tzinfo=None) if created else after
                if key in seen or when <= after:
                    continue
                seen.add(key)
                payload = json.dumps(pop_json(c, d.department_names), default=str)
                await resp.write(f"event: handoff\ndata: {payload}\n\n".encode())
            if agent is not None:  # then the call ringing this agent's phone, once
                ringing = await blocking(views_agent_state.ringing_call, d.board, agent)
                if ringing is not None and ringing not in rung:
                    call = await blocking(d.store.find_call, ringing)
                    if call is not None and call["handoff"]:  # else: the next round
                        rung.add(ringing)
                        pop = {**pop_json(call, d.department_names), "ringing": True}
                        data = json.dumps(pop, default=str)
                        await resp.write(f"event: handoff\ndata: {data}\n\n".encode())
            await resp.write(b": keep-alive\n\n")
            await asyncio.sleep(d.cfg.live_interval_s)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return resp


async def agent_call(request: web.Request) -> web.Response:
    """The caller's context found by the call reference in the transfer's SIP headers
    (``X-Voicebot-Call-Id``)."""
    login = require(request)
    d = dash(request)
    call = await blocking(d.store.find_call, request.match_info["ref"])
    if call is None or not call["handoff"]:
        raise web.HTTPNotFound(text="No hand-off with this call reference.")
    if not login.user.may_see_department(call["department"]):
        raise web.HTTPForbidden(text="This call was not handed to your department.")
    body = _handoff_html(call["handoff"], d.department_names)
    if login.user.is_supervisor:
        body = f'<p><a href="/calls/{q(call["id"])}">Whole call record</a></p>' + body
    return web.Response(
        text=layout("Caller context", login, body, active="/agent"), content_type="text/html"
    )


# ---------------------------------------------------------------------------- metrics


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format over the records kept in the database."""
    t = await blocking(compute_totals, dash(request).store)
    out = [
        "# HELP voicebot_calls_in_progress Calls being answered now.",
        "# TYPE voicebot_calls_in_progress gauge",
        f"voicebot_calls_in_progress {t.live}",
        "# HELP voicebot_calls_total Ended calls by outcome (records kept in the database).",
        "# TYPE voicebot_calls_total counter",
    ]
    out += [f'voicebot_calls_total{{outcome="{o}"}} {n}' for o, n in sorted(t.outcomes.items())]
    out += [
        "# HELP voicebot_turn_latency_seconds End of caller speech to first bot audio.",
        "# TYPE voicebot_turn_latency_seconds histogram",
    ]
    for bound, n in t.latency_le:
        le = "+Inf" if bound == float("inf") else f"{bound:g}"
        out.append(f'voicebot_turn_latency_seconds_bucket{{le="{le}"}} {n}')
    out += [
        f"voicebot_turn_latency_seconds_sum {t.latency_sum_s:.3f}",
        f"voicebot_turn_latency_seconds_count {t.latency_count}",
        "# HELP voicebot_stage_seconds Time of each stage of a caller turn.",
        "# TYPE voicebot_stage_seconds summary",
    ]
    for stage, (total, count) in t.stages.items():
        out.append(f'voicebot_stage_seconds_sum{{stage="{stage}"}} {total:.3f}')
        out.append(f'voicebot_stage_seconds_count{{stage="{stage}"}} {count}')
    return web.Response(
        body=("\n".join(out) + "\n").encode(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )
