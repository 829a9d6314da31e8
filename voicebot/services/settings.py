"""The ``services`` settings section: where the per-host speech and dialog services listen."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from voicebot.config import Settings, section_to
from voicebot.errors import ConfigError
from voicebot.paths import var_dir
from voicebot.services.protocol import Address, parse_address


@dataclass(frozen=True)
class ServicesConfig:
    """How call workers reach the models of their host (see :mod:`voicebot.services`)."""

    mode: Literal["shared", "inprocess"] = "shared"
    """``shared``: workers use the host's speech and dialog services; ``inprocess``: every
    worker loads every model itself (about 1.8 GB each)."""
    speech_address: str = "unix:run/speech.sock"
    """Speech service address: ``unix:PATH`` (relative to var/) or ``tcp:HOST:PORT``."""
    dialog_address: str = "unix:run/dialog.sock"
    """Dialog service address, same forms."""
    start: bool = True
    """``voicebot serve`` starts (and restarts) both services; false when they run elsewhere."""
    speech_threads: int = 0
    """Threads running decodes and syntheses in the speech service; 0 = one per CPU core."""
    reconnect_s: float = 60.0
    """A client waits this long for a restarting service before the request fails, s."""
    request_timeout_s: float = 30.0
    """Longest one request may take once sent, s."""
    start_timeout_s: float = 600.0
    """Longest a service may take to load its models and report healthy, s."""
    dialog_peers: tuple[str, ...] = ()
    """Other hosts' dialog services (``tcp:HOST:PORT``), tried in this order when this
    host's own (``dialog_address``) is down or dies during a turn; they must share its
    Redis tracker store (``dialog.tracker_store: redis://...``)."""
    speech_nice: int = -10
    """Nice value (-20..19) ``voicebot serve`` starts the speech service at, relative to its
    own (normally 0; the workers stay at ``sip.worker_nice``). Negative runs decodes and
    syntheses before the workers when the cores are short; it needs CAP_SYS_NICE (root):
    without it the service runs at serve's own value, with one warning."""
    dialog_nice: int = -10
    """The same for the dialog service (README "Service priority")."""

    def __post_init__(self) -> None:
        for name in ("speech_nice", "dialog_nice"):
            value = getattr(self, name)
            if not -20 <= value <= 19:
                raise ConfigError(
                    f"settings section 'services': {name} must be -20..19, not {value}",
                    hint="a nice value: negative runs the service before the call workers",
                )

    def speech(self) -> Address:
        return parse_address(self.speech_address, var_dir())

    def dialog(self) -> Address:
        return parse_address(self.dialog_address, var_dir())

    def dialogs(self) -> list[Address]:
        """This host's dialog service first, then the peers, in the order tried."""
        return [self.dialog(), *(parse_address(p, var_dir()) for p in self.dialog_peers)]

    def threads(self) -> int:
        return self.speech_threads or os.cpu_count() or 2


def services_config(settings: Settings) -> ServicesConfig:
    return section_to(ServicesConfig, settings, "services")
