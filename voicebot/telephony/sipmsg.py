"""Small, pure helpers for raw SIP text: headers, name-addr, Refer-To URI headers.

pjsua2 hands the application whole messages as text (``SipRxData.wholeMsg``); these
functions take what the line needs from them without pjsua2, so they are unit-tested.
(DTMF in SIP INFO and codec negotiation are pjsua2's own work.)
"""

from __future__ import annotations

import re
from urllib.parse import quote

_COMPACT = {
    "i": "call-id",
    "f": "from",
    "t": "to",
    "m": "contact",
    "v": "via",
    "c": "content-type",
    "l": "content-length",
    "k": "supported",
    "s": "subject",
    "r": "refer-to",
    "b": "referred-by",
}


def parse_headers(message: str) -> dict[str, str]:
    """Headers of a SIP message, names in lower case (compact forms expanded).

    Folded lines are joined; a repeated header's values are joined with ``", "``. The start
    line and the body are left out.
    """
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0]
    lines = head.split("\n")[1:]
    headers: dict[str, str] = {}
    last = ""
    for line in lines:
        if line[:1] in (" ", "\t") and last:
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        key = _COMPACT.get(key, key)
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
        last = key
    return headers


_NAME_ADDR = re.compile(r'^\s*(?:"(?P<q>(?:[^"\\]|\\.)*)"|(?P<t>[^<"]*?))\s*<(?P<uri>[^>]*)>')


def parse_name_addr(value: str) -> tuple[str, str, str]:
    """Split a From/To value into ``(display name, URI, user part)``."""
    m = _NAME_ADDR.match(value)
    if m:
        name = (m.group("q") or m.group("t") or "").strip()
        uri = m.group("uri").strip()
    else:
        name, uri = "", value.split(";", 1)[0].strip()
    user = ""
    um = re.match(r"^(?:sips?|tel):(?P<user>[^@;?]*)@?", uri)
    if um and ("@" in uri or uri.startswith("tel:")):
        user = um.group("user")
    if user.lower() in ("anonymous", "restricted", "unknown"):
        user = ""
    return name, uri, user


def uri_with_headers(uri: str, headers: dict[str, str]) -> str:
    """``uri`` with ``headers`` as URI headers (``sip:a@b?X-Foo=bar``), RFC 3261 19.1.1.

    A transferee puts URI headers of the Refer-To into the INVITE it sends, so the context
    reaches the agent even through a user agent that drops unknown REFER headers.
    """
    if not headers:
        return uri
    parts = [f"{quote(k, safe='-')}={quote(v, safe='')}" for k, v in headers.items()]
    return uri + ("&" if "?" in uri else "?") + "&".join(parts)


def header_safe(value: str, limit: int = 200) -> str:
    """``value`` made fit for one SIP header line: no line breaks, at most ``limit`` chars."""
    return " ".join(value.split())[:limit]
