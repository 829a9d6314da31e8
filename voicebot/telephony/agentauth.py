"""Who an agent's phone is, for Kamailio: digest auth of REGISTER and of the keypad codes.

With ``sip.acd`` and ``sip.agent_auth`` on, the generated Kamailio configuration
(:mod:`voicebot.telephony.kamailio`) challenges every REGISTER (401) and every INVITE to a
keypad feature code (407) and checks the answer with ``pv_auth_check`` against the agent's
password from ``agents.yml``, held as HA1 (``MD5(user:realm:password)``) in an ``htable``
filled when Kamailio starts: no database, and no password in clear in the generated file
(which is written readable by its owner only). A user who is no agent, or a wrong password,
gets 403. The checked user name (``$au``, the agent's ``sip_user``) must be the user of the
To (REGISTER) or From (INVITE) URI, and the INVITE reaches the worker with an
``X-Voicebot-Agent: <sip_user>`` header (any such header from outside is removed first).

With ``sip.agent_auth`` off, any phone on ``allowed_networks`` registers as any user and
the header names the From user (trust the network, not the phone).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from voicebot.center.agents import AgentRoster

AUTH_REALM = "voicebot-agents"
"""The digest realm of the agents' phones (an HA1 depends on it)."""
AGENT_HEADER = "X-Voicebot-Agent"
"""Header naming the (authenticated) agent on a feature-code INVITE to a worker."""


def ha1(user: str, password: str, realm: str = AUTH_REALM) -> str:
    """The digest HA1 of ``user`` and ``password`` in ``realm`` (hex MD5, RFC 2617)."""
    return hashlib.md5(f"{user}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class AgentAccess:
    """What Kamailio needs to know about the agents' phones.

    Attributes:
        require_auth: challenge REGISTER and feature-code INVITEs (``sip.agent_auth``).
        ha1: HA1 by SIP user, for the agents who have a password.
        feature_codes: the keypad codes agents dial (pause, resume).
    """

    require_auth: bool
    ha1: dict[str, str] = field(default_factory=dict, repr=False)
    feature_codes: tuple[str, ...] = ()

    @classmethod
    def from_roster(cls, roster: AgentRoster, require_auth: bool) -> AgentAccess:
        hashes = {
            a.sip_user: ha1(a.sip_user, a.password) for a in roster.agents.values() if a.password
        }
        return cls(require_auth, hashes, (roster.acd.pause_code, roster.acd.resume_code))

    def codes_regex(self) -> str:
        """A Kamailio regular expression matching a Request-URI user that is a code."""
        return "^(" + "|".join(f"[{c[0]}]{c[1:]}" for c in self.feature_codes) + ")$"

    def modparams(self) -> str:
        if not self.require_auth:
            return ""
        fill = "".join(f'    $sht(agentha1=>{u}) = "{h}";\n' for u, h in sorted(self.ha1.items()))
        return (
            'modparam("htable", "htable", "agentha1=>size=8;")\n'
            'modparam("auth", "nonce_expire", 60)\n'
            "event_route[htable:mod-init] {\n" + fill + "}\n"
        )

    def auth_route(self) -> str:
        """``route[AGENT_AUTH]``: pass an authenticated agent, challenge or refuse others."""
        if not self.require_auth:
            return ""
        realm = AUTH_REALM
        return f"""
route[AGENT_AUTH] {{
    if ($au == $null) {{
        auth_challenge("{realm}", "1");
        exit;
    }}
    if ($sht(agentha1=>$au) == $null) {{
        xlog("L_NOTICE", "$rm from $si: user $au is no agent\\n");
        sl_send_reply("403", "Forbidden");
        exit;
    }}
    if (!pv_auth_check("{realm}", "$sht(agentha1=>$au)", "1", "1")) {{
        if ($rc == -4 || $rc == -5 || $rc == -6) {{
            auth_challenge("{realm}", "1");
            exit;
        }}
        xlog("L_NOTICE", "$rm from $si: authentication of $au failed ($rc)\\n");
        sl_send_reply("403", "Forbidden");
        exit;
    }}
    consume_credentials();
}}
"""

    def register_check(self) -> str:
        return "\n        route(AGENT_AUTH);" if self.require_auth else ""

    def feature_route(self) -> str:
        """Request-route lines: a code INVITE is authenticated and names its agent."""
        who = "$au" if self.require_auth else "$fU"
        auth = "\n        route(AGENT_AUTH);" if self.require_auth else ""
        return f"""
    remove_hf("{AGENT_HEADER}");
    if (is_method("INVITE") && $rU =~ "{self.codes_regex()}") {{{auth}
        append_hf("{AGENT_HEADER}: {who}\\r\\n");
    }}"""
