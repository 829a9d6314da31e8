"""Who may call: source networks and optional digest authentication (RFC 2617, MD5).

Pure Python. The line asks :meth:`Gatekeeper.check` about every INVITE and answers 403 or
401 (with the challenge this returns) before a call object exists.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
from dataclasses import dataclass

NONCE_TTL_S = 300.0
"""Seconds a digest nonce stays valid."""


@dataclass(frozen=True)
class Verdict:
    """The answer to one INVITE: ``status`` 0 lets it in; else reply with it.

    Attributes:
        status: 0, 401 or 403.
        reason: reason phrase / log text.
        challenge: ``WWW-Authenticate`` value to send with a 401.
    """

    status: int
    reason: str = ""
    challenge: str = ""


class Gatekeeper:
    """Checks an INVITE's source address and, when configured, its digest credentials.

    Args:
        networks: CIDR networks allowed to call.
        trusted_proxies: proxy addresses whose ``X-Voicebot-Source`` header is believed.
        user: digest user ("" for no authentication); ``password``, ``realm`` likewise.
    """

    def __init__(
        self,
        networks: tuple[str, ...],
        trusted_proxies: tuple[str, ...] = (),
        user: str = "",
        password: str = "",
        realm: str = "voicebot",
    ) -> None:
        self._nets = [ipaddress.ip_network(n, strict=False) for n in networks]
        self._proxies = {ipaddress.ip_address(p) for p in trusted_proxies}
        self._user, self._password, self._realm = user, password, realm
        # Nonces must be valid in every worker (Kamailio may send the retry elsewhere), so
        # their key comes from the shared settings, not from this process.
        self._secret = hashlib.sha256(f"voicebot-nonce:{realm}:{user}:{password}".encode()).digest()

    def source(self, src: str, headers: dict[str, str]) -> str:
        """The caller's ``ip:port``: the packet source, or the proxy's word for it."""
        host = _host(src)
        forwarded = headers.get("x-voicebot-source", "")
        if forwarded and host is not None and host in self._proxies:
            return forwarded.split(",")[0].strip()
        return src

    def allowed(self, src: str) -> bool:
        """Whether ``ip[:port]`` lies in an allowed network."""
        host = _host(src)
        return host is not None and any(host in net for net in self._nets)

    def check(self, src: str, method: str, headers: dict[str, str]) -> Verdict:
        """Verdict for a request from packet source ``src`` with ``headers`` (lower-case)."""
        real = self.source(src, headers)
        if not self.allowed(real):
            return Verdict(403, f"source {real} not in allowed networks")
        if not self._user:
            return Verdict(0)
        auth = headers.get("authorization", "")
        if not auth:
            return Verdict(401, "no credentials", self.challenge())
        params = _digest_params(auth)
        stale = not self._nonce_ok(params.get("nonce", ""))
        if params.get("username") != self._user or stale:
            return Verdict(
                401, "stale nonce" if stale else "unknown user", self.challenge(stale=stale)
            )
        if not hmac.compare_digest(params.get("response", ""), self._expected(method, params)):
            return Verdict(403, "wrong credentials")
        return Verdict(0)

    def challenge(self, stale: bool = False) -> str:
        """A fresh ``WWW-Authenticate`` value."""
        ts = f"{time.time():.0f}"
        mac = hmac.new(self._secret, ts.encode(), hashlib.sha256).hexdigest()[:24]
        value = f'Digest realm="{self._realm}", nonce="{ts}.{mac}", algorithm=MD5, qop="auth"'
        return value + (", stale=true" if stale else "")

    def _nonce_ok(self, nonce: str) -> bool:
        ts, _, mac = nonce.partition(".")
        good = hmac.new(self._secret, ts.encode(), hashlib.sha256).hexdigest()[:24]
        if not ts.isdigit() or not hmac.compare_digest(mac, good):
            return False
        return time.time() - int(ts) < NONCE_TTL_S

    def _expected(self, method: str, p: dict[str, str]) -> str:
        ha1 = _md5(f"{self._user}:{self._realm}:{self._password}")
        ha2 = _md5(f"{method}:{p.get('uri', '')}")
        if p.get("qop"):
            return _md5(f"{ha1}:{p.get('nonce')}:{p.get('nc')}:{p.get('cnonce')}:{p['qop']}:{ha2}")
        return _md5(f"{ha1}:{p.get('nonce')}:{ha2}")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


def _digest_params(value: str) -> dict[str, str]:
    if not value.lower().startswith("digest"):
        return {}
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(value[6:])
    }


def _host(src: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = src.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
