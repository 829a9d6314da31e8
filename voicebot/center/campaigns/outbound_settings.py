"""Settings of campaign calls over SIP: the ``outbound`` section of the voicebot settings.

Read with ``outbound_settings(settings)``; every key is documented in
``voicebot/defaults/voicebot.yml``. Pure Python, no pjsua2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voicebot.config import Settings, section_to
from voicebot.errors import ConfigError


@dataclass(frozen=True)
class OutboundSettings:
    """How campaign calls leave this host.

    Attributes:
        proxy: outbound proxy URI every INVITE is sent through (Kamailio or a trunk),
            e.g. ``sip:127.0.0.1:5060;lr``; "" sends straight to the callee's URI.
        domain: host[:port] a phone number is dialled at (``sip:+4416...@domain``).
        ring_timeout_s: seconds to let a callee ring before CANCEL (no_answer).
        calls_per_dialer: calls one dialer process places at once (pjsua2 allows 4).
        address: address the dialer processes' SIP and RTP bind.
        base_port: dialer process ``i`` uses SIP port ``base_port + i``.
        rtp_base_port: dialer ``i`` uses RTP ports from ``rtp_base_port + i * rtp_ports``.
        rtp_ports: RTP/RTCP ports per dialer process.
        start_timeout_s: seconds a dialer process may take to start.
        machine_wait_s: after an answering machine is detected, the longest wait for its
            beep or the end of its greeting before the message is left, s.
        max_amd_s: longest the callee's first words are listened to before the bot treats
            them as a person, s.
        keypad_answer_s: seconds to wait for a keypad answer (keypad survey).
        survey: what a person gets: ``spoken`` (the Rasa survey dialog, speech or keys,
            :func:`voicebot.center.campaigns.survey_call.run_survey`, needing the voice
            pipeline) or ``keypad`` (a fixed keypad-only survey,
            :mod:`voicebot.center.campaigns.keypad_survey`; no ASR or dialog model).
    """

    proxy: str = ""
    domain: str = "127.0.0.1:5060"
    ring_timeout_s: float = 30.0
    calls_per_dialer: int = 4
    address: str = "127.0.0.1"
    base_port: int = 5170
    rtp_base_port: int = 24000
    rtp_ports: int = 100
    start_timeout_s: float = 120.0
    machine_wait_s: float = 20.0
    max_amd_s: float = 6.0
    keypad_answer_s: float = 8.0
    survey: str = "spoken"

    def dial_uri(self, phone: str) -> str:
        """The Request-URI for a contact's phone (a SIP URI as it is)."""
        if phone.lower().startswith(("sip:", "sips:")):
            return phone
        return f"sip:{phone}@{self.domain}"


def outbound_settings(settings: Settings) -> OutboundSettings:
    """The ``outbound`` section, checked (ConfigError naming the key)."""
    cfg = section_to(OutboundSettings, settings, "outbound")
    if not 1 <= cfg.calls_per_dialer <= 4:
        raise ConfigError("settings section 'outbound': calls_per_dialer must be 1-4 (pjsua2)")
    if cfg.proxy and not re.match(r"^sips?:[^\s<>]+$", cfg.proxy):
        raise ConfigError(f"settings section 'outbound': proxy {cfg.proxy!r} is not a SIP URI")
    if cfg.survey not in ("spoken", "keypad"):
        raise ConfigError(f"settings section 'outbound': survey {cfg.survey!r}: spoken or keypad")
    if cfg.ring_timeout_s <= 0 or cfg.rtp_ports < 8:
        raise ConfigError("settings section 'outbound': ring_timeout_s > 0, rtp_ports >= 8")
    return cfg
