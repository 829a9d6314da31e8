"""Admission control: a host carries at most its capacity of calls; beyond it, 503.

The two cores of a host carry a limited number of calls at the latency target (README
"Host capacity"); a call center prefers a clear "busy" (503 with ``Retry-After``, which a
carrier or PBX routes elsewhere) to serving every caller badly. Kamailio does the counting,
so nothing is queued into a worker and no Python sits in the call path:

- every worker's line in ``dispatcher.list`` carries ``host=ADDRESS;maxcalls=N`` (the
  worker's host and that host's capacity, :func:`host_capacities`);
- ``route[ADMIT]`` walks the dispatcher's choices from the selected worker on and takes the
  first whose host's dialog profile ``host`` holds fewer than ``maxcalls`` calls (under a
  lock, so two INVITEs at once cannot both take the last place); the call is counted in
  that profile from then on (ringing calls too) until it ends or fails. ``dlg_manage()``
  has created the dialog before ``route[ADMIT]`` runs, so ``set_dlg_profile`` counts the
  call at once, before the lock is released and before the INVITE is relayed;
- the lock is cfgutils' ``lock("admission")``, which needs cfgutils' ``lock_set_size``
  (:func:`kamailio_params`): without it ``lock()`` does nothing but log an error, and two
  of Kamailio's receiver processes could both read a host's count before either counted
  its call (issue 11: about 1 burst in 35 over-admitted, bench/admission_race.py);
- when no host has room, the INVITE is answered at once with ``503 Host Full`` and
  ``Retry-After: sip.retry_after_s``; the shared variable ``refused`` counts these;
- a worker that refuses (486/503/...) gives its place back and the next worker with room is
  tried (``failure_route[NEXT_WORKER]``). In-dialog requests never pass here: calls in
  progress are not touched.

:class:`HostLoad` reads the counts back through Kamailio's RPC for the supervisor's lines.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from voicebot.telephony.settings import SipSettings

PROFILE = "host"
"""The dialog profile (with value) that counts each host's calls under its address."""
REFUSED_VAR = "refused"
"""Kamailio shared variable: INVITEs refused because every host was full, since start."""


class _HasAddress(Protocol):
    @property
    def address(self) -> str: ...


def host_capacities(settings: SipSettings, workers: Sequence[_HasAddress]) -> dict[str, int]:
    """Capacity (calls) of each host, by worker address: ``sip.max_calls``, at most the
    slots of that host's workers (``sip.host_capacity``)."""
    counts = Counter(w.address for w in workers)
    return {address: settings.host_capacity(n) for address, n in counts.items()}


def dispatcher_attrs(name: str, address: str, capacities: dict[str, int]) -> str:
    """The attributes of one worker's line in ``dispatcher.list``."""
    return f"name={name};host={address};maxcalls={capacities[address]}"


LOCK_SET_SIZE = 4
"""cfgutils' ``lock_set_size``: 2**4 locks, one of which ``lock("admission")`` takes."""


def kamailio_params() -> str:
    """The module parameters admission control needs: cfgutils' lock set. Without it,
    ``lock()``/``unlock()`` only log "lock set not initialized" and lock nothing."""
    return f'modparam("cfgutils", "lock_set_size", {LOCK_SET_SIZE})'


def kamailio_routes(settings: SipSettings) -> str:
    """``route[ADMIT]`` (sets ``$var(room)``) and ``route[HOST_FULL]`` (the 503)."""
    return f"""
route[ADMIT] {{
    # Admission control: from the selected worker on, the first whose host holds fewer
    # calls than its 'maxcalls' (dispatcher attributes); the call counts for that host
    # from now on. $var(room) stays 0 when every host is full.
    $var(room) = 0;
    $var(more) = 1;
    lock("admission");
    while ($var(more) == 1) {{
        $var(host) = $(xavp(_dsdst_=>attrs){{param.value,host}});
        $var(max) = $(xavp(_dsdst_=>attrs){{param.value,maxcalls}}{{s.int}});
        get_profile_size("{PROFILE}", "$var(host)", "$var(size)");
        if ($var(size) < $var(max)) {{
            set_dlg_profile("{PROFILE}", "$var(host)");
            $dlg_var(host) = $var(host);
            $var(room) = 1;
            $var(more) = 0;
        }} else if (!ds_next_dst()) {{
            $var(more) = 0;
        }}
    }}
    if ($var(room) == 0) {{
        $shv({REFUSED_VAR}) = $shv({REFUSED_VAR}) + 1;
    }}
    unlock("admission");
}}

route[HOST_FULL] {{
    xlog("L_NOTICE", "every host full: INVITE from $si refused (503)\\n");
    append_to_reply("Retry-After: {int(settings.retry_after_s)}\\r\\n");
}}
"""


def give_back_place() -> str:
    """Failure-route lines: the refused branch's host place is free again."""
    return f"""
    if ($dlg_var(host) != $null) {{
        unset_dlg_profile("{PROFILE}", "$dlg_var(host)");
        $dlg_var(host) = $null;
    }}"""


class _Rpc(Protocol):
    def call(self, method: str, *args: str) -> str | None: ...


_NUMBER = re.compile(r"(-?\d+)")


@dataclass(frozen=True)
class Load:
    """Calls and capacity of the hosts behind one Kamailio, and refusals since its start."""

    calls: dict[str, int]
    capacity: dict[str, int]
    refused: int

    def line(self) -> str:
        """``calls 3/8 on 127.0.0.1; refused 0 (503, every host full)``."""
        hosts = ", ".join(
            f"{self.calls.get(h, 0)}/{cap} on {h}" for h, cap in sorted(self.capacity.items())
        )
        return f"calls {hosts}; refused {self.refused} (503, every host full)"


class HostLoad:
    """Reads each host's calls (dialog profile ``host``) and the refusals from Kamailio."""

    def __init__(self, rpc: _Rpc, capacity: dict[str, int]) -> None:
        self.rpc = rpc
        self.capacity = dict(capacity)

    def read(self) -> Load | None:
        """The current load, or None when Kamailio does not answer."""
        calls: dict[str, int] = {}
        for host in self.capacity:
            text = self.rpc.call("dlg.profile_get_size", PROFILE, f"s:{host}")
            found = _NUMBER.findall(text or "")
            if text is None or not found:
                return None
            calls[host] = int(found[-1])
        text = self.rpc.call("pv.shvGet", REFUSED_VAR)
        value = re.search(r"value:\s*(-?\d+)", text or "") or _NUMBER.search(text or "")
        if value is None:
            return None
        return Load(calls, self.capacity, int(value.group(1)))
