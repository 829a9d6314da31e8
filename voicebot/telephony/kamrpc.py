"""Kamailio's RPC (the ``ctl`` module's binrpc, through ``kamcmd``): end a dead worker's calls.

Kamailio keeps every call in its ``dialog`` module, in the profile ``worker`` under the
``address:port`` of the worker that answered it (see :mod:`voicebot.telephony.kamailio`).
When a worker process dies, :meth:`KamailioRpc.release_worker` takes the worker out of the
dispatcher (new calls go to the others at once instead of after the OPTIONS probes notice)
and ends each of its dialogs: Kamailio sends BYE to the caller, who is released instead of
listening to dead air. When the worker is back, :meth:`KamailioRpc.worker_back` puts it in
again. The socket is the proxy's local ``unix:PATH`` or, from another host,
``sip.proxy_rpc`` (``tcp:ADDRESS:PORT``).

A host that vanishes (power, network) cannot report its dead workers. On the proxy,
:class:`DownWatch` reads the dispatcher's probe results every second and ends the calls of
each worker whose probes (SIP OPTIONS) stopped being answered.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass

log = logging.getLogger(__name__)

KAMCMD = "/usr/sbin/kamcmd"
PROFILE = "worker"
"""The dialog profile (with value) that holds each call under its worker's address:port."""

_HANDLE = re.compile(r"h_entry:\s*(\d+)\s+h_id:\s*(\d+)")
_DEST = re.compile(r"URI:\s*sip:([^\s:]+):(\d+)\s+FLAGS:\s*(\w+)")


@dataclass(frozen=True)
class Released:
    """What :meth:`KamailioRpc.release_worker` did."""

    dialogs: int
    """Dialogs (calls) of the worker found in Kamailio."""
    ended: int
    """Of those, dialogs Kamailio ended (BYE sent to the caller)."""
    disabled: bool
    """Whether the dispatcher took the worker out of the rotation."""


class KamailioRpc:
    """RPC calls to one Kamailio.

    Args:
        socket: ``unix:/path/ctl.sock`` or ``tcp:ADDRESS:PORT``.
        timeout_s: seconds one RPC call may take.
    """

    def __init__(self, socket: str, timeout_s: float = 3.0) -> None:
        self.socket = socket
        self.timeout_s = timeout_s
        self.kamcmd = shutil.which("kamcmd") or KAMCMD

    def call(self, method: str, *args: str) -> str | None:
        """Run one RPC; its text output, or None when Kamailio cannot be reached or fails.

        String arguments are passed as strings (``s:`` prefix), never as numbers.
        """
        cmd = [self.kamcmd, "-s", self.socket, method, *args]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("kamailio rpc %s via %s: %s", method, self.socket, exc)
            return None
        if out.returncode != 0 or out.stdout.startswith("error:"):
            log.warning(
                "kamailio rpc %s via %s failed: %s",
                method,
                self.socket,
                (out.stdout + out.stderr).strip()[:300],
            )
            return None
        return out.stdout

    def worker_dialogs(self, address: str, port: int) -> list[tuple[int, int]] | None:
        """``(h_entry, h_id)`` of every call the worker ``address:port`` answered."""
        text = self.call("dlg.profile_list", PROFILE, f"s:{address}:{port}")
        if text is None:
            return None
        return [(int(a), int(b)) for a, b in _HANDLE.findall(text)]

    def destinations(self) -> dict[tuple[str, int], str] | None:
        """The dispatcher's destinations and their flags (``AP`` active, ``IP`` inactive
        and probing, ``D`` disabled, ...)."""
        text = self.call("dispatcher.list")
        if text is None:
            return None
        return {(host, int(port)): flags for host, port, flags in _DEST.findall(text)}

    def set_worker_state(self, address: str, port: int, state: str) -> bool:
        """Dispatcher state of ``sip:address:port`` in set 1: ``ip`` (inactive, probing)
        or ``ap`` (active, probing)."""
        return self.call("dispatcher.set_state", state, "1", f"s:sip:{address}:{port}") is not None

    def release_worker(self, address: str, port: int) -> Released:
        """A worker died: take it out of the dispatcher and end its calls (BYE to callers)."""
        disabled = self.set_worker_state(address, port, "ip")
        handles = self.worker_dialogs(address, port) or []
        ended = 0
        for h_entry, h_id in handles:
            if self.call("dlg.end_dlg", str(h_entry), str(h_id)) is not None:
                ended += 1
        return Released(len(handles), ended, disabled)

    def worker_back(self, address: str, port: int) -> bool:
        """A restarted worker listens again: dispatch new calls to it."""
        return self.set_worker_state(address, port, "ap")


class DownWatch:
    """Ends the calls of workers the dispatcher's probes found dead (poll it often).

    Args:
        rpc: the proxy's Kamailio.
        every_s: seconds between two reads of the dispatcher's state.
    """

    def __init__(self, rpc: KamailioRpc, every_s: float = 1.0) -> None:
        self.rpc = rpc
        self.every_s = every_s
        self._next = 0.0
        self._up: dict[tuple[str, int], bool] = {}

    def poll(self, now: float) -> list[tuple[str, int, int]]:
        """``(address, port, calls ended)`` of each worker that went down since the last
        poll and had calls; ``now`` is ``time.monotonic()``."""
        if now < self._next:
            return []
        self._next = now + self.every_s
        states = self.rpc.destinations()
        if states is None:
            return []
        out = []
        for (address, port), flags in states.items():
            up = not flags.startswith(("I", "D"))
            if not up and self._up.get((address, port), True):
                handles = self.rpc.worker_dialogs(address, port) or []
                ended = sum(
                    self.rpc.call("dlg.end_dlg", str(a), str(b)) is not None for a, b in handles
                )
                if handles:
                    out.append((address, port, ended))
            self._up[(address, port)] = up
        return out
