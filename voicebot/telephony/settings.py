"""Settings of the SIP line: the ``sip`` section of the voicebot settings.

Read with ``section_to(SipSettings, settings, "sip")``; every key is documented in
``voicebot/defaults/voicebot.yml``. Pure Python, no pjsua2.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from voicebot.errors import ConfigError

ROLES = ("all", "proxy", "host")


def split_host_port(spec: str, key: str) -> tuple[str, int]:
    """``"10.0.0.2:5070"`` -> ``("10.0.0.2", 5070)``; ConfigError naming ``key`` if not."""
    host, _, port = spec.rpartition(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = 0
    if not 0 < number < 65536:
        raise ConfigError(f"settings section 'sip': {key} entry {spec!r} is not ADDRESS:PORT")
    return host, number


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
        role: what ``voicebot serve`` runs on this host: ``all`` (Kamailio and the workers),
            ``proxy`` (Kamailio only, dispatching to ``remote_workers``) or ``host`` (workers
            only, behind another host's Kamailio; their SIP and RTP bind ``worker_address``).
        remote_workers: ``address:port`` of workers on other hosts that Kamailio dispatches
            to as well (roles ``all`` and ``proxy``).
        proxy_rpc: Kamailio's RPC (ctl binrpc) on the internal network, ``tcp:ADDRESS:PORT``;
            the proxy listens there too, and a worker host uses it to end the dialogs of a
            worker that died (empty: the local Unix socket only).
        dialog_keepalive_s: seconds between Kamailio's in-dialog OPTIONS to each call's worker;
            a call whose worker stops answering is ended with BYE to the caller (the
            backstop for a worker host that vanished, at least 30 s); 0 turns it off.
        acd: Kamailio is the registrar of the agents' phones (``agents.yml``) and passes a
            worker's INVITE to a registered agent to their phone; the supervisor copies the
            registrations onto the agent board (the built-in ACD).
        agent_auth: with ``acd``, agents' phones authenticate (digest, the ``password`` of
            ``agents.yml``) to register and to dial the pause/resume codes; unknown users and
            wrong passwords get 403. Off: any phone on ``allowed_networks`` may register.
        acd_board: where the agent board lives: ``auto`` (Redis when the dialog state is
            in Redis or ``redis.serve`` is on, else SQLite), ``sqlite`` (this host only) or
            ``redis://HOST:PORT/DB`` (shared by hosts), see voicebot.center.board_api.
        max_calls: calls one host carries at once (admission control): Kamailio answers a
            new INVITE beyond it with 503 and ``Retry-After``, or dispatches it to another
            host with room; calls in progress are never touched. Applies to every host
            behind this Kamailio (hosts alike); capped at the host's worker slots; 0 = the
            worker slots (``workers * calls_per_worker``).
        retry_after_s: seconds in the ``Retry-After`` header of that 503.
        worker_nice: nice value (0-19) the workers run at, above the speech and dialog
            services' 0: when the CPU is short, the turn path (decodes, dialog, synthesis)
            runs first and the workers' steady media work waits (README "Host capacity").
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
    role: str = "all"
    remote_workers: tuple[str, ...] = ()
    proxy_rpc: str = ""
    dialog_keepalive_s: float = 30.0
    acd: bool = False
    agent_auth: bool = True
    acd_board: str = "auto"
    max_calls: int = 8
    retry_after_s: int = 30
    worker_nice: int = 0

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
        if self.max_calls < 0 or self.retry_after_s < 0:
            raise ConfigError(
                "settings section 'sip': max_calls and retry_after_s must be 0 or more",
                hint="max_calls: 0 = as many calls as the workers have slots",
            )
        if self.max_call_s <= 0:
            raise ConfigError("settings section 'sip': max_call_s must be positive")
        if not 0 <= self.worker_nice <= 19:
            raise ConfigError(
                "settings section 'sip': worker_nice must be 0..19",
                hint="a nice value: higher runs the workers after the speech and dialog services",
            )
        self._check_hosts()

    def _check_hosts(self) -> None:
        """The several-hosts keys: role, remote workers, the proxy's RPC address."""
        if self.role not in ROLES:
            raise ConfigError(
                f"settings section 'sip': role {self.role!r} is not one of {', '.join(ROLES)}"
            )
        for spec in self.remote_workers:
            split_host_port(spec, "remote_workers")
        if self.proxy_rpc:
            kind, _, rest = self.proxy_rpc.partition(":")
            if kind != "tcp":
                raise ConfigError(
                    f"settings section 'sip': proxy_rpc {self.proxy_rpc!r} must be tcp:ADDRESS:PORT"
                )
            split_host_port(rest, "proxy_rpc")
        if self.role == "proxy" and not self.remote_workers:
            raise ConfigError(
                "settings section 'sip': role 'proxy' needs remote_workers",
                hint="list the workers of the other hosts as address:port",
            )
        if self.acd and (self.role != "all" or self.workers == 0):
            raise ConfigError(
                "settings section 'sip': acd needs role 'all' and workers of 1 or more",
                hint="the agents' phones register to this host's Kamailio; the agent board "
                "is this host's",
            )
        if self.dialog_keepalive_s != 0 and self.dialog_keepalive_s < 30:
            raise ConfigError(
                "settings section 'sip': dialog_keepalive_s must be 0 (off) or 30 or more",
                hint="Kamailio's dialog keepalive takes at least 30 s",
            )

    @property
    def media_address(self) -> str:
        """Address the workers' RTP binds (and their SDP names): the host's own on role
        ``host``, else the public ``address``."""
        return self.worker_address if self.role == "host" else self.address

    @property
    def capacity(self) -> int:
        """Simultaneous calls all workers together take."""
        return max(1, self.workers) * self.calls_per_worker

    def host_capacity(self, workers: int) -> int:
        """Calls a host with ``workers`` worker processes is admitted: ``max_calls``,
        at most the workers' slots (0: the slots)."""
        slots = max(1, workers) * self.calls_per_worker
        return min(self.max_calls, slots) if self.max_calls else slots
