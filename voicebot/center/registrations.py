"""Agents' phone registrations, from Kamailio's location table onto the agent board.

With ``sip.acd`` on, Kamailio is the registrar of the agents' phones (see
:mod:`voicebot.telephony.kamailio`). :class:`RegistrationSync` reads its location table
through the RPC (``ul.dump``, :class:`~voicebot.telephony.kamrpc.KamailioRpc`) every
``every_s`` and tells the :class:`~voicebot.center.board.AgentBoard` which agents
(``agents.yml``, by ``sip_user``) are registered, where, and for how long; an agent whose
registration is gone is registered with expires 0 (offline, or offline after their call).
Registrations of users that are no agent are ignored. The supervisor polls it::

    sync = RegistrationSync(KamailioRpc(sock), board)
    sync.poll(time.monotonic())

Times are ``time.monotonic()`` seconds: the same clock as the workers' event loops, which
the :class:`~voicebot.center.distributor.Distributor` uses (epoch 0) on the same host.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from voicebot.center.board_api import Board
from voicebot.telephony.kamrpc import KamailioRpc

log = logging.getLogger(__name__)

_AOR = re.compile(r"^\s*AoR:\s*(\S+)\s*$")
_ADDRESS = re.compile(r"^\s*Address:\s*(\S+)\s*$")
_EXPIRES = re.compile(r"^\s*Expires:\s*(\S+)\s*$")
PERMANENT_S = 10 * 365 * 86400.0
"""Lifetime given to a contact Kamailio keeps without expiry (``Expires: permanent``), s."""


@dataclass(frozen=True)
class Contact:
    """One registered contact of the location table."""

    aor: str
    """The address of record: the user part the phone registered (``alice``)."""
    uri: str
    """Where the phone is reached (``sip:alice@10.0.0.7:5060``)."""
    expires_s: float
    """Seconds until the registration runs out."""


def parse_ul_dump(text: str) -> list[Contact]:
    """The contacts in ``kamcmd ul.dump`` output (contacts already expired left out)."""
    out: list[Contact] = []
    aor = uri = None
    for line in text.splitlines():
        if m := _AOR.match(line):
            aor, uri = m.group(1).split("@", 1)[0], None
        elif m := _ADDRESS.match(line):
            uri = m.group(1)
        elif (m := _EXPIRES.match(line)) and aor and uri:
            value = m.group(1)
            if value == "permanent":
                out.append(Contact(aor, uri, PERMANENT_S))
            elif value.isdigit() and int(value) > 0:
                out.append(Contact(aor, uri, float(value)))
            uri = None
    return out


class RegistrationSync:
    """Copies registrations of agents' phones from Kamailio onto the agent board.

    Args:
        rpc: the Kamailio that is the registrar.
        board: the host's agent board (its roster maps SIP users to agents).
        every_s: seconds between two reads of the location table.
    """

    def __init__(self, rpc: KamailioRpc, board: Board, every_s: float = 2.0) -> None:
        self.rpc = rpc
        self.board = board
        self.every_s = every_s
        self._next = 0.0

    def poll(self, now: float) -> dict[str, str] | None:
        """Read the location table (at most every ``every_s``) and update the board.

        Returns the agents registered now (key -> contact URI), or None when it was not
        time yet or Kamailio did not answer (the board is left as it is then).
        """
        if now < self._next:
            return None
        self._next = now + self.every_s
        text = self.rpc.call("ul.dump")
        if text is None:
            return None
        registered: dict[str, str] = {}
        roster = self.board.roster
        for contact in parse_ul_dump(text):
            agent = roster.by_sip_user(contact.aor)
            if agent is None or agent.key in registered:
                continue
            registered[agent.key] = contact.uri
            self.board.register(agent.key, contact.uri, contact.expires_s, now)
        for status in self.board.status(now):
            if status.key not in registered and (status.registered or status.contact):
                self.board.register(status.key, "", 0, now)
        return registered
