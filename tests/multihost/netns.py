"""Several "hosts" on one machine: Linux network namespaces joined by a bridge.

A :class:`Lab` creates one hub namespace holding a bridge and, per :meth:`Lab.add_host`, a
namespace with its own address in a private /24, joined to the bridge by a veth pair. The
root namespace is not touched (no interface, route or address is added there), and traffic
only flows between these namespaces. :meth:`Host.start` runs any command inside a host
(``ip netns exec``), in its own process group, with its output in a log file; a later test
starts "a host" with whatever command it needs (workers, speech and dialog services, ...).
:meth:`Lab.close` kills every process it started and every process still inside its
namespaces (all of them started by this lab), then deletes the namespaces and veths; the
fixture calls it in ``finally`` so a failing test leaves nothing behind. Needs root and
``ip`` (iproute2).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

IP = shutil.which("ip") or "/usr/sbin/ip"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS``; raise with its message when ``check`` and it fails."""
    out = subprocess.run([IP, *args], capture_output=True, text=True, timeout=20)
    if check and out.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {out.stderr.strip()}")
    return out


def can_run() -> str:
    """Why namespaces cannot be made here ('' when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not os.path.exists(IP):
        return "ip (Debian iproute2) not installed"
    return ""


@dataclass
class Process:
    """A command running inside a host."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, text: str, timeout_s: float) -> None:
        """Wait until ``text`` shows in the output; AssertionError (with the log) if not."""
        end = time.monotonic() + timeout_s
        while text not in self.output():
            if self.proc.poll() is not None or time.monotonic() > end:
                state = f"exited {self.proc.returncode}" if self.proc.poll() is not None else ""
                raise AssertionError(
                    f"{self.name}: no {text!r} after {timeout_s} s {state}\n{self.output()[-4000:]}"
                )
            time.sleep(0.1)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM the process (SIGKILL its group after ``timeout_s``); its exit status."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@dataclass
class Host:
    """One network namespace with one address: a machine of the lab."""

    name: str
    netns: str
    address: str
    folder: Path
    lab: Lab = field(repr=False)

    def command(self, cmd: Sequence[str]) -> list[str]:
        """``cmd`` as run inside this host."""
        return [IP, "netns", "exec", self.netns, *cmd]

    def run(self, cmd: Sequence[str], timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` inside this host and wait for it."""
        return subprocess.run(self.command(cmd), capture_output=True, text=True, timeout=timeout_s)

    def lab_pids(self) -> list[int]:
        """The processes running in this host (all started by its lab)."""
        return [int(p) for p in ip("netns", "pids", self.netns, check=False).stdout.split()]

    def start(
        self,
        name: str,
        cmd: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Process:
        """Start ``cmd`` inside this host; output goes to ``folder/NAME.log``."""
        log = self.folder / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                self.command(cmd),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        p = Process(f"{self.name}/{name}", proc, log)
        self.lab.processes.append(p)
        return p


class Lab:
    """Namespaces ``vb<tag>-hub`` (the bridge) and ``vb<tag>-<host>`` in 10.<a>.<b>.0/24."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tag = f"{os.getpid() % 1000:03d}{random.randrange(100):02d}"
        self.prefix = f"10.{random.randrange(100, 250)}.{random.randrange(1, 250)}"
        self.hub = f"vb{self.tag}-hub"
        self.hosts: list[Host] = []
        self.processes: list[Process] = []
        self.namespaces: list[str] = []
        try:
            self._add_netns(self.hub)
            ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            ip("-n", self.hub, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise

    def _add_netns(self, name: str) -> None:
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def add_host(self, name: str) -> Host:
        """A new host ``name`` with the next address of the lab's /24."""
        number = len(self.hosts) + 1
        netns = f"vb{self.tag}-{name}"
        address = f"{self.prefix}.{number}"
        self._add_netns(netns)  # before the veth: close() deletes the veth with the namespace
        outer, inner = f"vb{self.tag}h{number}", f"vb{self.tag}i{number}"
        ip("link", "add", outer, "netns", self.hub, "type", "veth", "peer", inner, "netns", netns)
        ip("-n", netns, "link", "set", inner, "name", "eth0")
        ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        ip("-n", self.hub, "link", "set", outer, "master", "br0")
        ip("-n", self.hub, "link", "set", outer, "up")
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        host = Host(name, netns, address, folder, self)
        self.hosts.append(host)
        return host

    def close(self) -> None:
        """Kill what runs in the lab, then delete its namespaces (and with them the veths)."""
        for p in reversed(self.processes):
            if p.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.proc.pid, signal.SIGTERM)
        end = time.monotonic() + 10
        for p in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.proc.wait(max(0.1, end - time.monotonic()))
            if p.proc.poll() is None:
                p.kill()
        for netns in self.namespaces:  # anything left inside was started by this lab
            pids = ip("netns", "pids", netns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        for netns in reversed(self.namespaces):
            ip("netns", "del", netns, check=False)
        self.namespaces.clear()

    def leftovers(self) -> list[str]:
        """Namespaces of this lab that still exist (empty after :meth:`close`)."""
        listed = ip("netns", "list", check=False).stdout
        return [line.split()[0] for line in listed.splitlines() if f"vb{self.tag}-" in line]
