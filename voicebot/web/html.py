"""HTML building blocks for the dashboard's pages.

Pages are built from Python strings; every value that comes from a caller, a record or a
request goes through :func:`h` (``html.escape`` with quotes), so a caller turn holding markup
is shown as text. No page has inline script: the one script is served from ``/static``,
and the Content-Security-Policy forbids any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from voicebot.web.auth import Login


def h(value: Any) -> str:
    """``value`` as escaped HTML text ("" for None)."""
    return "" if value is None else escape(str(value), quote=True)


def q(value: Any) -> str:
    """``value`` quoted for a URL path or query part."""
    return quote(str(value), safe="")


def fmt_time(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def fmt_s(value: float | None) -> str:
    if value is None:
        return "–"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes}:{seconds:02d}"


def fmt_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def fmt_pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """A table; ``rows`` hold ready HTML (escape values with :func:`h` first)."""
    head = "".join(f"<th>{h(x)}</th>" for x in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{h(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def csrf_field(login: Login) -> str:
    return f'<input type="hidden" name="csrf" value="{h(login.csrf)}">'


NAV_SUPERVISOR = (
    ("/live", "Live"),
    ("/stats", "Statistics"),
    ("/calls", "Calls"),
    ("/messages", "Messages"),
    ("/review", "Review"),
    ("/agent", "Agent view"),
    ("/campaigns", "Campaigns"),
)
NAV_AGENT = (("/agent", "Screen-pop"), ("/messages", "Messages"))


def layout(title: str, login: Login | None, body: str, *, active: str = "") -> str:
    """A whole page: header with navigation and the user, then ``body`` (ready HTML)."""
    nav = ""
    if login is not None:
        items = NAV_SUPERVISOR if login.user.is_supervisor else NAV_AGENT
        active_cls = ' class="active"'
        links = "".join(
            f'<a href="{href}"{active_cls if href == active else ""}>{h(label)}</a>'
            for href, label in items
        )
        who = h(login.user.name) + (
            f" ({h(login.user.role)}"
            + (f", {h(login.user.department)}" if login.user.department else "")
            + ")"
        )
        nav = (
            f'<nav>{links}<span class="user">{who}</span>'
            f'<form method="post" action="/logout" class="inline">{csrf_field(login)}'
            '<button type="submit">Log out</button></form></nav>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{h(title)} · voicebot</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/static/dashboard.css">'
        '<script src="/static/dashboard.js" defer></script>'
        f'</head><body><header><span class="brand">voicebot</span>{nav}</header>'
        f"<main><h1>{h(title)}</h1>{body}</main></body></html>"
    )
