"""``voicebot serve`` on the hosts of a :class:`~netns.Lab`, and SIPp callers inside it.

One host is the proxy (``sip.role: proxy``: Kamailio for every worker of every host, and
the shared Redis); the others are worker hosts (``sip.role: host``: workers on the host's
own address, a dead worker's calls ended through the proxy's RPC). Every host gets its own
settings file and ``VOICEBOT_VAR`` (the namespaces share one file system). The SIPp
scenarios and the result reader are the ones of tests/sip.

A later test starts a host with whatever it needs, e.g. its own speech and dialog services
before its workers, all sharing the proxy's Redis::

    h = lab.add_host("a")
    h.start("dialog", [PYTHON, "-m", "voicebot.services.dialog"], env={...})
    serve(h, host_settings(h, proxy, 2, net, extra={"dialog": {...}}), args=[])

``args=[]`` runs the real pipeline (``sip.handler``) instead of ``--demo``.

The ``lab`` fixture lives here, not in a conftest.py: tests/sip's modules import their
helpers with ``from conftest import ...``, which a second conftest module would shadow.
A test module takes it with ``from cluster import lab_fixture  # noqa: F401``.
Needs root and iproute2 (it is root here and in CI); without them, or without SIPp,
Kamailio, redis-server or the SIP pcaps, the tests fail under CI=true and skip otherwise.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from netns import Host, Lab, Process, can_run

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SIPP = shutil.which("sipp")
SIP_PORT = 5060
RPC_PORT = 5090
REDIS_PORT = 6379
REDIS_PASSWORD = "lab-only-password"
WORKER_BASE_PORT = 5070


def _sip_helpers() -> Any:
    """tests/sip/conftest.py as a module of its own (it is 'conftest' to pytest)."""
    path = ROOT / "tests" / "sip" / "conftest.py"
    spec = importlib.util.spec_from_file_location("sip_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sip_helpers"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


sip_helpers = _sip_helpers()
render = sip_helpers.render
sipp_wait = sip_helpers.sipp_wait
PCAP_DIR: Path = sip_helpers.PCAP_DIR
_ports = itertools.count(6000, 10)


@dataclass
class Serve:
    """A ``voicebot serve --demo`` running on one lab host."""

    host: Host
    process: Process
    var: Path
    record_dir: Path

    def reports(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.record_dir.glob("*.json"))]

    def ready(self, worker: str) -> dict:
        path = self.var / "sip" / f"{worker}.ready"
        return json.loads(path.read_text()) if path.exists() else {}

    def worker_on_port(self, port: int) -> str:
        """The name of this host's worker that listens on ``port``."""
        return f"worker-{port - WORKER_BASE_PORT}"


def proxy_settings(proxy: Host, hosts: list[Host], workers: int, net: str) -> dict:
    """Kamailio on ``proxy`` for ``workers`` workers on each of ``hosts``, plus Redis."""
    return {
        "sip": {
            "role": "proxy",
            "address": proxy.address,
            "port": SIP_PORT,
            "allowed_networks": [net],
            "remote_workers": [
                f"{h.address}:{WORKER_BASE_PORT + i}" for h in hosts for i in range(workers)
            ],
            "proxy_rpc": f"tcp:{proxy.address}:{RPC_PORT}",
        },
        "redis": {
            "serve": True,
            "address": proxy.address,
            "port": REDIS_PORT,
            "password": REDIS_PASSWORD,
        },
    }


def host_settings(
    host: Host, proxy: Host, workers: int, net: str, calls: int = 2, extra: dict | None = None
) -> dict:
    """``workers`` workers on ``host``'s own address behind the Kamailio on ``proxy``;
    ``extra`` adds settings sections (e.g. the dialog service's, pointing at the proxy's
    Redis: ``redis://:REDIS_PASSWORD@PROXY:REDIS_PORT/0``)."""
    return {
        **(extra or {}),
        "sip": {
            "role": "host",
            "address": proxy.address,
            "worker_address": host.address,
            "worker_base_port": WORKER_BASE_PORT,
            "workers": workers,
            "calls_per_worker": calls,
            "rtp_base_port": 20000,
            "rtp_ports": 40,
            "allowed_networks": [net],
            "trusted_proxies": [proxy.address],
            "proxy_rpc": f"tcp:{proxy.address}:{RPC_PORT}",
            "media_timeout_s": 120,
            "shutdown_grace_s": 5,
            **(extra or {}).get("sip", {}),
        },
    }


def serve(
    host: Host,
    settings: dict,
    args: list[str] | None = None,
    timeout_s: float = 90.0,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
) -> Serve:
    """Start ``voicebot serve ARGS`` on ``host`` with ``settings`` (``args`` None: the demo
    handler, recording each call's report) and ``env`` added; wait until it answers.
    ``command`` runs instead of ``python -m voicebot.cli`` (e.g. a launcher that changes
    the generated Kamailio config, tests/sip/admission_widen.py)."""
    cfg = host.folder / "settings.yml"
    cfg.write_text(yaml.safe_dump(settings, sort_keys=False))
    var, record = host.folder / "var", host.folder / "calls"
    env = {
        "VOICEBOT_CONFIG": str(cfg),
        "VOICEBOT_VAR": str(var),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    if args is None:
        args = ["--demo", "--demo-record-dir", str(record)]
    cmd = [*(command or [PYTHON, "-m", "voicebot.cli"]), "serve", *args]
    proc = host.start("serve", cmd, env=env, cwd=ROOT)
    proc.wait_for("answering SIP", timeout_s)
    return Serve(host, proc, var, record)


def sipp_in(
    caller: Host,
    scenario: Path,
    target: str,
    folder: Path,
    *,
    calls: int = 1,
    rate: float = 10.0,
    timeout_s: float = 40.0,
    background: bool = False,
) -> Any:
    """SIPp on ``caller`` (bound to its address) calling ``target``; like tests/sip's sipp()."""
    assert SIPP is not None
    port = next(_ports)
    tag = f"c{port}"
    cmd = [
        SIPP,
        "-sf",
        str(scenario),
        "-i",
        caller.address,
        "-p",
        str(port),
        "-mp",
        str(port + 2),
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-r",
        str(rate),
        "-timeout",
        f"{int(timeout_s)}s",
        "-timeout_error",
        "-nostdin",
        "-trace_msg",
        "-message_file",
        str(folder / f"{tag}.msg"),
        "-trace_err",
        "-error_file",
        str(folder / f"{tag}.err"),
        "-trace_logs",
        "-log_file",
        str(folder / f"{tag}.log"),
        "-trace_stat",
        "-stf",
        str(folder / f"{tag}.csv"),
        "-s",
        "bot",
        target,
    ]
    proc = subprocess.Popen(
        caller.command(cmd), cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    proc.tag = tag  # type: ignore[attr-defined]
    proc.folder = folder  # type: ignore[attr-defined]
    if background:
        return proc
    return sipp_wait(proc, timeout_s + 20)


def answers(msg_file: Path, count: int, timeout_s: float = 15.0) -> list[tuple[str, int, str]]:
    """``(address, port, sdp_address)`` of the first ``count`` 200 OKs to INVITEs in a SIPp
    message log: the worker's Contact and the address its SDP sends media to."""
    end = time.monotonic() + timeout_s
    found: list[tuple[str, int, str]] = []
    while time.monotonic() < end:
        text = msg_file.read_text(errors="replace") if msg_file.exists() else ""
        found = []
        for block in text.split("-----------------------------------------------"):
            if "SIP/2.0 200 OK" not in block or "CSeq: 1 INVITE" not in block:
                continue
            contact = re.search(r"Contact:\s*<?sip:[^@>]*@([\d.]+):(\d+)", block)
            sdp = re.search(r"c=IN IP4 ([\d.]+)", block)
            if contact and sdp:
                found.append((contact.group(1), int(contact.group(2)), sdp.group(1)))
        if len(found) >= count:
            return found[:count]
        time.sleep(0.1)
    raise AssertionError(f"{len(found)} of {count} answers in {msg_file}")


def need_peers() -> str:
    """Why the SIP peers are missing ('' when they are there)."""
    if SIPP is None:
        return "sipp (Debian sip-tester) not installed"
    if not PCAP_DIR.is_dir():
        return f"SIP evaluation pcaps not found in {PCAP_DIR}"
    if not Path("/usr/sbin/kamailio").exists():
        return "kamailio (Debian package) not installed"
    if not Path("/usr/bin/redis-server").exists():
        return "redis-server (Debian package) not installed"
    return ""


def ci() -> bool:
    return os.environ.get("CI") == "true"


@pytest.fixture(scope="module", name="lab")
def lab_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A fresh lab for the module; its namespaces are deleted even when a test fails."""
    why = can_run() or need_peers()
    if why:
        if ci():
            pytest.fail(why)
        pytest.skip(why)
    lab = Lab(tmp_path_factory.mktemp("lab"))
    try:
        yield lab
    finally:
        lab.close()
    assert lab.leftovers() == []
