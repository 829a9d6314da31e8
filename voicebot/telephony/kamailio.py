"""Kamailio in front of the workers: one public SIP address, calls spread over processes.

:func:`write_config` renders a small stateful-proxy configuration from the settings into
``var/kamailio/``: new INVITEs from allowed networks (others 403) go round-robin to the
workers through the ``dispatcher`` module; a worker that answers 486 (full), 503
(draining) or 408 is skipped for the next; in-dialog requests follow the Record-Route.
The proxy adds ``X-Voicebot-Source: ip:port`` so workers know the real caller. INFO
requests with a body over 1 KiB (413) or with a NUL byte in it (400) are refused: pjsua
aborts its process on such ``dtmf-relay`` bodies, which would drop every call of that worker.

The ``dialog`` module keeps every call, in the profile ``worker`` under the ``address:port``
of the worker that answered it, so a call whose worker died can be ended with a BYE to the
caller (:mod:`voicebot.telephony.kamrpc`). The dispatcher probes every worker with OPTIONS
every 2 s (2 misses: inactive), which the proxy watches to end the calls of a host that
vanished; in-dialog OPTIONS to each call's worker every ``dialog_keepalive_s`` are the last
backstop. Other hosts' workers (``sip.remote_workers``) are in the same dispatcher set.
Admission control (:mod:`voicebot.telephony.admission`): each host carries at most
``sip.max_calls`` calls (dialog profile ``host``); a new INVITE for which no host has room
gets 503 with ``Retry-After`` at once.

With ``sip.acd`` on, Kamailio is also the agents' registrar: REGISTER from allowed networks
is saved in the ``location`` table (memory only; digest auth against the agents' passwords
with ``sip.agent_auth``, see :mod:`voicebot.telephony.agentauth`), and an INVITE *from a
worker* to a user registered there goes to that phone (the worker ringing an agent); an
agent's INVITE to a keypad feature code (pause, resume) goes to a worker with the agent
named in a header; every other INVITE is dispatched to the workers as before.
:class:`KamailioProcess` runs ``kamailio -DD -E`` (foreground, log to stderr).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from voicebot.errors import TelephonyError
from voicebot.telephony.admission import (
    REFUSED_VAR,
    dispatcher_attrs,
    give_back_place,
    host_capacities,
    kamailio_params,
    kamailio_routes,
)
from voicebot.telephony.agentauth import AgentAccess
from voicebot.telephony.settings import SipSettings, split_host_port
from voicebot.telephony.stale import record_pid, stop_stale

MODULES_DIRS = (
    "/usr/lib/x86_64-linux-gnu/kamailio/modules/",
    "/usr/lib/aarch64-linux-gnu/kamailio/modules/",
    "/usr/lib/kamailio/modules/",
)
MODULES = (
    "kex",
    "corex",
    "tm",
    "tmx",
    "sl",
    "rr",
    "pv",
    "maxfwd",
    "textops",
    "siputils",
    "xlog",
    "sanity",
    "ipops",
    "dispatcher",
    "dialog",
    "ctl",
    "usrloc",
    "registrar",
    "cfgutils",
)
AUTH_MODULES = ("htable", "auth")
"""Loaded as well when the agents' phones must authenticate (``sip.agent_auth``)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Worker:
    """One worker process as Kamailio sees it: ``sip:address:port``."""

    name: str
    address: str
    port: int
    rtp_port: int


def workers_of(settings: SipSettings) -> list[Worker]:
    """The workers the settings ask for (at least one)."""
    s = settings
    return [
        Worker(
            f"worker-{i}",
            s.worker_address,
            s.worker_base_port + i,
            s.rtp_base_port + i * s.rtp_ports,
        )
        for i in range(max(1, s.workers))
    ]


def remote_workers_of(settings: SipSettings) -> list[Worker]:
    """The workers on other hosts (``sip.remote_workers``); their RTP ports are theirs."""
    out = []
    for i, spec in enumerate(settings.remote_workers):
        host, port = split_host_port(spec, "remote_workers")
        out.append(Worker(f"remote-{i}", host, port, 0))
    return out


def _modules_dir() -> str:
    for path in MODULES_DIRS:
        if os.path.isfile(os.path.join(path, "dispatcher.so")):
            return path
    raise TelephonyError("Kamailio modules not found", hint="apt-get install kamailio (Debian 12)")


def _agent_routes(settings: SipSettings, access: AgentAccess | None) -> str:
    """The request-route part for agents' phones (``sip.acd``): REGISTER (authenticated)
    saved in the location table; an INVITE from a worker to a registered user goes to that
    phone; an agent's feature-code INVITE is authenticated and names the agent."""
    if not settings.acd:
        return ""
    access = access or AgentAccess(require_auth=False)
    return (
        """
    if (is_method("REGISTER")) {"""
        + access.register_check()
        + """
        if (!save("location")) {
            sl_reply_error();
        }
        exit;
    }
    if (is_method("INVITE") && ds_is_from_list("1") && $rU != $null) {
        if (!lookup("location")) {
            sl_send_reply("404", "Agent Not Registered");
            exit;
        }
        t_check_trans();
        dlg_manage();
        set_dlg_profile("worker", "$si:$sp");
        record_route();
        if (!t_relay()) {
            sl_reply_error();
        }
        exit;
    }"""
        + access.feature_route()
    )


def render_config(
    settings: SipSettings,
    workers: list[Worker],
    list_file: Path,
    ctl_socket: Path,
    access: AgentAccess | None = None,
) -> str:
    """The kamailio.cfg text for ``settings`` and ``workers`` (``access``: the agents'
    phones, with ``sip.acd``)."""
    s = settings
    auth = access is not None and access.require_auth and s.acd
    listens = "\n".join(f"listen={t}:{s.address}:{s.port}" for t in s.transports)
    loads = "\n".join(f'loadmodule "{m}.so"' for m in MODULES + (AUTH_MODULES if auth else ()))
    auth_params = access.modparams() if auth and access is not None else ""
    auth_route = access.auth_route() if auth and access is not None else ""
    nets = ",".join(s.allowed_networks)
    rpc = f'\nmodparam("ctl", "binrpc", "{s.proxy_rpc}")' if s.proxy_rpc else ""
    ka = int(math.ceil(s.dialog_keepalive_s))
    keepalive = f'modparam("dialog", "ka_timer", 1)\nmodparam("dialog", "ka_interval", {ka})'
    ka_dst = '\n    dlg_set_property("ka-dst");' if ka else ""
    methods = "INVITE|OPTIONS|REGISTER" if s.acd else "INVITE|OPTIONS"
    return f"""#!KAMAILIO
# Generated by voicebot from the 'sip' settings; edits are overwritten on the next start.
debug=1
log_stderror=yes
log_prefix="kamailio: "
children=2
tcp_children=2
max_while_loops=1000
auto_aliases=no
{listens}
alias="{s.address}:{s.port}"
server_header="Server: {s.user_agent}-proxy"
user_agent_header="User-Agent: {s.user_agent}-proxy"
mpath="{_modules_dir()}"
{loads}

modparam("tm", "fr_timer", 4000)
modparam("tm", "fr_inv_timer", 60000)
modparam("pv", "shvset", "draining=i:0")
modparam("pv", "shvset", "{REFUSED_VAR}=i:0")
modparam("ctl", "binrpc", "unix:{ctl_socket}"){rpc}
modparam("rr", "enable_full_lr", 1)
modparam("rr", "append_fromtag", 1)
modparam("dispatcher", "list_file", "{list_file}")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "xavp_dst", "_dsdst_")
modparam("dispatcher", "xavp_ctx", "_dsctx_")
modparam("dispatcher", "ds_ping_interval", 2)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 2)
modparam("dispatcher", "ds_ping_from", "sip:proxy@{s.address}")
modparam("dialog", "profiles_with_value", "worker;host")
modparam("dialog", "dlg_match_mode", 1)
modparam("dialog", "default_timeout", {int(s.max_call_s) + 120})
modparam("dialog", "send_bye", 1)
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
{kamailio_params()}
{keepalive if ka else "# dialog keepalive off (sip.dialog_keepalive_s: 0)"}
{auth_params}
request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check("17895", "7")) {{
        xlog("L_WARN", "malformed $rm from $si:$sp\\n");
        exit;
    }}
    if (is_method("INFO") && $cl > 0) {{
        # pjsua (2.15) aborts the whole worker on a dtmf-relay INFO whose Signal value is
        # ~4 KB long or holds a NUL byte; DTMF and other INFO bodies are short text.
        if ($cl > 1024) {{
            xlog("L_WARN", "INFO with a $cl-byte body from $si:$sp refused\n");
            sl_send_reply("413", "Request Entity Too Large");
            exit;
        }}
        if ($(rb{{s.encode.hexa}}) =~ "^(..)*00") {{
            xlog("L_WARN", "INFO with a NUL byte in its body from $si:$sp refused\n");
            sl_send_reply("400", "Bad Request Body");
            exit;
        }}
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (has_totag()) {{
        route(WITHINDLG);
        exit;
    }}
    if (!is_method("{methods}")) {{
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                t_relay();
            }}
            exit;
        }}
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    if (!is_in_subnet("$si", "{nets}")) {{
        xlog("L_NOTICE", "INVITE from $si not in allowed networks\\n");
        sl_send_reply("403", "Forbidden");
        exit;
    }}{_agent_routes(s, access)}
    if ($shv(draining) == 1) {{
        sl_send_reply("503", "Shutting Down");
        exit;
    }}
    t_check_trans();
    remove_hf("X-Voicebot-Source");
    append_hf("X-Voicebot-Source: $si:$sp\\r\\n");
    dlg_manage();{ka_dst}
    record_route();
    if (!ds_select_dst("1", "4")) {{
        sl_send_reply("503", "No Worker Available");
        exit;
    }}
    route(ADMIT);
    if ($var(room) == 0) {{
        route(HOST_FULL);
        sl_send_reply("503", "Host Full");
        exit;
    }}
    t_on_failure("NEXT_WORKER");
    t_on_reply("WORKER_REPLY");
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}

{auth_route}{kamailio_routes(s)}
route[WITHINDLG] {{
    if (loose_route()) {{
        if (!t_relay()) {{
            sl_reply_error();
        }}
        exit;
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}

onreply_route[WORKER_REPLY] {{
    # The worker that answers the call: its dialogs are ended when it dies.
    if (status =~ "^2" && $dlg_var(worker) == $null) {{
        $dlg_var(worker) = $si + ":" + $sp;
        set_dlg_profile("worker", "$si:$sp");
    }}
}}

failure_route[NEXT_WORKER] {{
    if (t_is_canceled()) {{
        exit;
    }}
    if (t_check_status("486|503|408|480|477|500")
        || (t_branch_timeout() && !t_branch_replied())) {{{give_back_place()}
        if (ds_next_dst()) {{
            route(ADMIT);
            if ($var(room) == 0) {{
                route(HOST_FULL);
                t_reply("503", "Host Full");
                exit;
            }}
            t_on_failure("NEXT_WORKER");
            t_on_reply("WORKER_REPLY");
            t_relay();
            exit;
        }}
    }}
}}
"""


def write_dispatcher_list(settings: SipSettings, workers: list[Worker], folder: Path) -> Path:
    """Write ``dispatcher.list`` (set 1: every worker, with its host and that host's
    capacity, :mod:`voicebot.telephony.admission`) into ``folder``; returns its path."""
    list_file = folder / "dispatcher.list"
    tmp = folder / "dispatcher.list.tmp"
    caps = host_capacities(settings, workers)
    tmp.write_text(
        "# set destination flags priority attributes\n"
        + "".join(
            f"1 sip:{w.address}:{w.port} 0 0 {dispatcher_attrs(w.name, w.address, caps)}\n"
            for w in workers
        )
    )
    tmp.replace(list_file)
    return list_file


def write_config(
    settings: SipSettings,
    workers: list[Worker],
    folder: Path,
    access: AgentAccess | None = None,
) -> Path:
    """Write ``kamailio.cfg`` (owner-only: it may hold the agents' HA1s) and
    ``dispatcher.list`` into ``folder``; returns the cfg path."""
    folder.mkdir(parents=True, exist_ok=True)
    list_file = write_dispatcher_list(settings, workers, folder)
    cfg = folder / "kamailio.cfg"
    text = render_config(settings, workers, list_file, folder / "ctl.sock", access)
    fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return cfg


def options_ping(address: str, port: int, timeout_s: float = 0.5) -> int:
    """Send one SIP OPTIONS over UDP; the response's status code, or 0 without answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address if address != "0.0.0.0" else "127.0.0.1", 0))
        sock.settimeout(timeout_s)
        lip, lport = sock.getsockname()
        branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        msg = (
            f"OPTIONS sip:{address}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {lip}:{lport};branch={branch};rport\r\n"
            f"From: <sip:probe@{lip}>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:{address}:{port}>\r\nCall-ID: {uuid.uuid4().hex}@{lip}\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        try:
            sock.sendto(msg.encode(), (address, port))
            data = sock.recv(4096)
        except OSError:
            return 0
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


class KamailioProcess:
    """The Kamailio proxy as a child process (foreground, logging to ``log_file``)."""

    def __init__(
        self,
        settings: SipSettings,
        workers: list[Worker],
        folder: Path,
        access: AgentAccess | None = None,
    ) -> None:
        self.settings = settings
        self.workers = workers
        self.folder = folder
        self.access = access
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Write the config, check it, start Kamailio and wait until it answers OPTIONS."""
        binary = shutil.which(self.settings.kamailio) or self.settings.kamailio
        if not os.access(binary, os.X_OK):
            raise TelephonyError(
                f"Kamailio not found at {self.settings.kamailio}",
                hint="apt-get install kamailio, or set sip.workers: 0 for one process",
            )
        stale = stop_stale(self.folder / "kamailio.pid", str(self.folder))
        if stale is not None:
            log.warning("stopped Kamailio pid %d, left running by an earlier serve", stale)
        cfg = write_config(self.settings, self.workers, self.folder, self.access)
        cmd = [binary, "-f", str(cfg), "-m", "64", "-M", "8", "-w", str(self.folder)]
        check = subprocess.run([*cmd, "-c"], capture_output=True, text=True)
        if check.returncode != 0:
            raise TelephonyError(
                "Kamailio rejected its generated config",
                hint=(check.stderr.strip().splitlines() or ["?"])[-1][:300],
            )
        log_file = open(self.folder / "kamailio.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [*cmd, "-DD", "-E"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        record_pid(self.folder / "kamailio.pid", self.proc.pid)
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise TelephonyError(
                    f"Kamailio exited at start (status {self.proc.returncode})",
                    hint=f"see {self.folder / 'kamailio.log'}; is port {self.settings.port} free?",
                )
            if options_ping(self.settings.address, self.settings.port, 0.3) == 200:
                return
            time.sleep(0.1)
        self.stop()
        raise TelephonyError(
            f"Kamailio did not answer on {self.settings.address}:"
            f"{self.settings.port} within {timeout_s:.0f} s"
        )

    @property
    def rpc_socket(self) -> str:
        """The local RPC socket (ctl binrpc), for ``kamcmd -s``."""
        return f"unix:{self.folder / 'ctl.sock'}"

    def reload_workers(self, workers: list[Worker]) -> bool:
        """Dispatch to ``workers`` from now on (a host added or removed), without a restart:
        rewrite ``dispatcher.list`` and have Kamailio reload it. Calls in progress go on."""
        write_dispatcher_list(self.settings, workers, self.folder)
        self.workers = workers
        kamcmd = shutil.which("kamcmd") or "/usr/sbin/kamcmd"
        try:
            out = subprocess.run(
                [kamcmd, "-s", self.rpc_socket, "dispatcher.reload"],
                capture_output=True,
                text=True,
                timeout=5,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out.returncode == 0 and not out.stdout.startswith("error")

    def drain(self) -> bool:
        """Answer new INVITEs with 503 from now on (calls in progress go on)."""
        kamcmd = shutil.which("kamcmd") or "/usr/sbin/kamcmd"
        sock = self.rpc_socket
        try:
            out = subprocess.run(
                [kamcmd, "-s", sock, "pv.shvSet", "draining", "int", "1"],
                capture_output=True,
                text=True,
                timeout=5,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out.returncode == 0

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM Kamailio (its whole process group), SIGKILL after ``timeout_s``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
