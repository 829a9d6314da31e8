"""The Rasa action server that runs the dialog's custom actions (``dialogs/actions``).

Rasa 3.6 runs custom actions out of process (rasa-sdk). :class:`ActionServer` reuses a
server already answering at the configured endpoint, or starts one as a child process
bound to the endpoint's host (127.0.0.1 by default, never all interfaces) and stops it
again on :meth:`stop`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from voicebot.errors import DialogError
from voicebot.paths import dialogs_dir, var_dir
from voicebot.services.priority import start_at_nice

log = logging.getLogger(__name__)


def _health_url(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}/health"


def is_up(endpoint: str, timeout_s: float = 0.5) -> bool:
    """Whether an action server answers ``/health`` at ``endpoint``."""
    try:
        with urllib.request.urlopen(_health_url(endpoint), timeout=timeout_s) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def server_command(port: int) -> list[str]:
    return [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)]


KEEP_ALIVE_TIMEOUT_S = 75
"""How long (s) the action server keeps an idle HTTP connection open. Sanic's default is 5 s,
shorter than the 15 s for which Rasa's aiohttp client keeps a connection for reuse: a
custom action called 5-15 s after the last one on that connection could be written to a
socket the server was closing ("Cannot write to closing transport"), and the turn failed
(the caller was handed over). A server that keeps connections longer than the client
leaves the closing to the client (rasa-sdk itself later raised it, to 120 s)."""


def server_env(endpoint: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The action server's environment; Sanic reads ``SANIC_*`` variables as its settings."""
    host = urlsplit(endpoint).hostname or "127.0.0.1"
    env = dict(os.environ)
    env.update(
        {
            "SANIC_HOST": host,
            "SANIC_KEEP_ALIVE_TIMEOUT": str(KEEP_ALIVE_TIMEOUT_S),
            "RASA_TELEMETRY_ENABLED": "false",
            "ACTION_SERVER_SANIC_WORKERS": "1",
        }
    )
    env.update(extra or {})
    return env


class ActionServer:
    """A running action server: reused if one answers, else started as a child process."""

    def __init__(
        self,
        endpoint: str,
        *,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        nice: int = 0,
    ) -> None:
        """``nice``: the increment over our own nice value it runs at, in a session (task
        group) of its own when not 0 (:mod:`voicebot.services.priority`): ``voicebot serve``
        gives it the dialog service's value, as every dialog turn waits for its answers."""
        self.endpoint = endpoint
        self._env = env
        self.nice = nice
        self._log_path = log_path or var_dir() / "action-server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0, reuse: bool = True) -> ActionServer:
        """Start it (or find it running) and wait until it answers."""
        return self.launch(reuse).wait(timeout_s)

    def launch(self, reuse: bool = True) -> ActionServer:
        """Start the process without waiting for it (``voicebot serve`` loads the models
        meanwhile); :meth:`wait` before relying on it."""
        if reuse and is_up(self.endpoint):
            log.info("using the action server already running at %s", self.endpoint)
            return self
        port = urlsplit(self.endpoint).port or 5055
        logfile = open(self._log_path, "ab")  # noqa: SIM115 - owned by the child process
        self._proc = start_at_nice(
            server_command(port),
            self.nice,
            new_session=bool(self.nice),
            cwd=dialogs_dir(),
            env=server_env(self.endpoint, self._env),
            stdout=logfile,
            stderr=subprocess.STDOUT,
        )
        logfile.close()
        return self

    def wait(self, timeout_s: float = 60.0) -> ActionServer:
        """Return once it answers; DialogError if it exits or is not up in ``timeout_s``."""
        if self._proc is None:
            return self
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise DialogError(
                    f"the action server exited with status {self._proc.returncode}",
                    hint=f"see {self._log_path}",
                )
            if is_up(self.endpoint):
                return self
            time.sleep(0.2)
        self.stop()
        raise DialogError(
            f"the action server did not answer at {self.endpoint} within {timeout_s:.0f} s",
            hint=f"see {self._log_path}",
        )

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> ActionServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
