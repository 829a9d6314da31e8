"""Small, pure readers of raw SIP text: headers, name-addr, DTMF in SIP INFO, SDP codecs.

pjsua2 hands the application whole messages as text (``SipRxData.wholeMsg``); these
functions take what the line needs from them without pjsua2, so they are unit-tested.
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


def message_body(message: str) -> str:
    """The body of a SIP message ("" when it has none)."""
    text = message.replace("\r\n", "\n")
    return text.split("\n\n", 1)[1] if "\n\n" in text else ""


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


_SIGNAL = re.compile(r"^\s*signal\s*=\s*(\S+)\s*$", re.I | re.M)
_DURATION = re.compile(r"^\s*duration\s*=\s*(\d+)\s*$", re.I | re.M)
DTMF_DIGITS = "0123456789*#ABCD"


def parse_info_dtmf(content_type: str, body: str) -> tuple[str, int] | None:
    """Digit and duration (ms) of a SIP INFO body, or None when it holds no DTMF.

    Accepts ``application/dtmf-relay`` (``Signal=5`` / ``Duration=160``) and
    ``application/dtmf`` (the digit alone, or its event code 0-15).
    """
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/dtmf-relay":
        m = _SIGNAL.search(body)
        if not m:
            return None
        digit = m.group(1).upper()
        d = _DURATION.search(body)
        duration = int(d.group(1)) if d else 0
    elif ctype == "application/dtmf":
        digit = body.strip().upper()
        duration = 0
    else:
        return None
    if digit.isdigit() and len(digit) <= 2 and int(digit) < len(DTMF_DIGITS):
        digit = DTMF_DIGITS[int(digit)]  # event code 10 -> *, 11 -> #
    if len(digit) != 1 or digit not in DTMF_DIGITS:
        return None
    return digit, duration


def offered_codecs(sdp: str) -> list[str]:
    """Encoding names the audio lines of an SDP offer list, upper case (PCMU, G729 ...)."""
    names: list[str] = []
    rtpmap: dict[str, str] = {}
    payloads: list[str] = []
    static = {"0": "PCMU", "3": "GSM", "8": "PCMA", "9": "G722", "18": "G729"}
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("m=audio "):
            payloads.extend(line.split()[3:])
        elif line.startswith("a=rtpmap:"):
            pt, _, enc = line[len("a=rtpmap:") :].partition(" ")
            rtpmap[pt] = enc.split("/", 1)[0].upper()
    for pt in payloads:
        name = rtpmap.get(pt) or static.get(pt, f"PT{pt}")
        names.append(name)
    return names


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
