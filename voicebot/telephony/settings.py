"""Settings of the SIP line: the ``sip`` section of the voicebot settings.

Read with ``section_to(SipSettings, settings, "sip")``; every key is documented in
``voicebot/defaults/voicebot.yml``. Pure Python, no pjsua2.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from voicebot.errors import ConfigError


@dataclass(frozen=True)
class SipSettings:
    """The SIP line and its worker processes.

    Attributes:
        address: public IP address the SIP proxy (or the single worker) listens on; RTP of
            every worker is bound here too.
        port: public SIP port (UDP and TCP).
        transports: SIP transports to open, from ``udp`` and ``tcp``.
        workers: worker processes behind the Kamailio dispatcher; 0 runs one worker on
            ``address:port`` itself, without Kamailio (at most ``calls_per_worker`` calls).
        calls_per_worker: calls one worker takes at once (the pjsua2 wheel caps it at 4);
            one more INVITE gets 486 and Kamailio tries the next worker.
        worker_address: address the workers' SIP transports listen on (behind Kamailio).
        worker_base_port: worker ``i`` listens on ``worker_base_port + i``.
        rtp_base_port: first RTP port; worker ``i`` uses ``rtp_base_port + i * rtp_ports``.
        rtp_ports: RTP/RTCP ports reserved per worker.
        codecs: codecs offered and accepted, in order of preference (8 kHz G.711 only).
        allowed_networks: CIDR networks INVITEs may come from; others get 403.
        trusted_proxies: addresses whose ``X-Voicebot-Source`` header names the real source
            (the Kamailio in front of the workers).
        auth_user: digest user callers must authenticate as; empty turns auth off.
        auth_password: that user's password.
        auth_realm: digest realm.
        max_call_s: longest call in seconds; then the notice hook runs and the bot hangs up.
        limit_notice_s: seconds the notice hook may take before the hang-up.
        media_timeout_s: seconds without RTP from the caller after which the call is hung
            up (a caller that vanished without BYE); 0 turns the check off.
        transfer_timeout_s: seconds to wait for the transfer target's final answer.
        shutdown_grace_s: seconds calls in progress may go on after SIGTERM.
        handler: ``module:function`` of the async per-call handler ``handler(call)``; a
            ``prepare()`` function in the same module runs once per worker before it takes
            calls (loading models).
        worker_start_s: seconds a worker may take to start (``prepare()`` included).
        kamailio: path of the Kamailio binary.
        user_agent: User-Agent / Server header value.
        log_level: pjsip log level to stderr (0 = silent .. 5 = every message).
    """

    address: str = "127.0.0.1"
    port: int = 5060
    transports: tuple[str, ...] = ("udp", "tcp")
    workers: int = 4
    calls_per_worker: int = 4
    worker_address: str = "127.0.0.1"
    worker_base_port: int = 5070
    rtp_base_port: int = 20000
    rtp_ports: int = 200
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    allowed_networks: tuple[str, ...] = (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
    )
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    auth_user: str = ""
    auth_password: str = ""
    auth_realm: str = "voicebot"
    max_call_s: float = 900.0
    limit_notice_s: float = 10.0
    media_timeout_s: float = 30.0
    transfer_timeout_s: float = 30.0
    shutdown_grace_s: float = 60.0
    handler: str = "voicebot.callhandler:handle_call"
    worker_start_s: float = 180.0
    kamailio: str = "/usr/sbin/kamailio"
    user_agent: str = "voicebot"
    log_level: int = 1

    def __post_init__(self) -> None:
        for name in ("address", "worker_address"):
            try:
                ipaddress.ip_address(getattr(self, name))
            except ValueError as exc:
                raise ConfigError(
                    f"settings section 'sip': '{name}' must be an IP address",
                    hint="SIP and RTP are bound to one address",
                ) from exc
        for net in self.allowed_networks:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ConfigError(
                    f"settings section 'sip': allowed_networks entry {net!r} is not a network"
                ) from exc
        bad = [t for t in self.transports if t not in ("udp", "tcp")]
        if bad or not self.transports:
            raise ConfigError("settings section 'sip': transports must be 'udp' and/or 'tcp'")
        bad = [c for c in self.codecs if c not in ("PCMU", "PCMA")]
        if bad or not self.codecs:
            raise ConfigError(
                f"settings section 'sip': codecs {bad} not supported (PCMU and PCMA only)"
            )
        if not 1 <= self.calls_per_worker <= 4:
            raise ConfigError(
                "settings section 'sip': calls_per_worker must be 1..4",
                hint="the pjsua2 wheel takes at most 4 calls per process",
            )
        if self.workers < 0:
            raise ConfigError("settings section 'sip': workers must be 0 or more")
        if bool(self.auth_user) != bool(self.auth_password):
            raise ConfigError("settings section 'sip': set both auth_user and auth_password")
        if self.max_call_s <= 0:
            raise ConfigError("settings section 'sip': max_call_s must be positive")

    @property
    def capacity(self) -> int:
        """Simultaneous calls all workers together take."""
        return max(1, self.workers) * self.calls_per_worker
