"""Starting, watching and restarting the per-host services (what ``voicebot serve`` runs).

:class:`HostServices` starts the speech and dialog services (and Debian's redis-server when
``dialog.tracker_store`` is a Redis URL on this host that does not answer), prints each
service's start-up stage as it loads, waits until both answer ``health``, and then watches
them from a thread: a service that exits is started again at once (at most once every
``RESTART_GAP_S``). While it reloads, the workers' clients wait for it (speech requests are
sent again; dialog requests go to the other hosts' dialog services of
``services.dialog_peers`` meanwhile, or a dialog turn that was in flight fails, and only
that call goes to its failure path). Logs and status files live in ``var/services/``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from voicebot.center.redis_server import RedisServer
from voicebot.config import Settings
from voicebot.dialog.settings import dialog_config
from voicebot.paths import var_dir
from voicebot.services.client import ServiceClient
from voicebot.services.priority import permitted_nice, start_at_nice
from voicebot.services.protocol import Address, ServiceError
from voicebot.services.settings import ServicesConfig, services_config

log = logging.getLogger(__name__)

RESTART_GAP_S = 5.0
"""Seconds between two restarts of the same service."""
HEALTH_EVERY_S = 60.0
"""Seconds between two health lines in the ``voicebot serve`` output."""


def say(text: str) -> None:
    print(f"voicebot: {text}", flush=True)


class ServiceProcess:
    """One service child process (``python -m voicebot.services.NAME``), ``nice`` steps
    from this process's nice value (a restart gets it too)."""

    def __init__(
        self, name: str, address: Address, folder: Path, env: dict[str, str], nice: int = 0
    ) -> None:
        self.name = name
        self.nice = nice
        self.address = address
        self.folder = folder
        self.env = env
        self.status_path = folder / f"{name}.json"
        self.log_path = folder / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.restarts = 0
        self._stage = ""

    def spawn(self) -> None:
        self.status_path.unlink(missing_ok=True)
        with open(self.log_path, "ab") as logf:
            self.proc = start_at_nice(
                [sys.executable, "-m", f"voicebot.services.{self.name}",
                 "--address", str(self.address), "--status", str(self.status_path)],
                self.nice, stdout=logf, stderr=subprocess.STDOUT, env=self.env,
            )  # fmt: skip
        self.started = time.monotonic()
        self._stage = ""

    def status(self) -> dict[str, Any]:
        try:
            data = json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {"stage": "starting"}
        return data if isinstance(data, dict) else {"stage": "starting"}

    def new_stage(self) -> str | None:
        """The start-up stage when it changed since the last call, else None."""
        stage = str(self.status().get("stage", "starting"))
        if stage == self._stage:
            return None
        self._stage = stage
        return stage

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def health(self, timeout_s: float = 2.0) -> dict[str, Any]:
        try:
            return ServiceClient(self.address).health(timeout_s)
        except ServiceError as exc:
            return {"ok": False, "service": self.name, "error": str(exc)}

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class HostServices:
    """The speech and dialog services of this host (see the module docstring)."""

    def __init__(
        self, settings: Settings, folder: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.cfg: ServicesConfig = services_config(settings)
        self.folder = folder or var_dir() / "services"
        self.folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **(env or {})}
        nice = permitted_nice({"speech": self.cfg.speech_nice, "dialog": self.cfg.dialog_nice})
        self.nice = nice  # service name -> the nice increment it runs at (host permitting)
        self.services = [
            ServiceProcess("speech", self.cfg.speech(), self.folder, env, nice["speech"]),
            ServiceProcess("dialog", self.cfg.dialog(), self.folder, env, nice["dialog"]),
        ]
        self.redis: RedisServer | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._begin = time.monotonic()

    # ------------------------------------------------------------------ start-up

    def start(self) -> HostServices:
        """Start every service, print progress, return once all are healthy."""
        self.spawn()
        self.wait_ready()
        return self

    def spawn(self) -> HostServices:
        """Start every service process at once (both load their models side by side)."""
        self._start_redis()
        self._begin = time.monotonic()
        for service in self.services:
            service.spawn()
        return self

    def wait_ready(self, stopping: Callable[[], bool] | None = None) -> None:
        """Print each service's start-up stages until all answer ``health`` (ServiceError
        after ``services.start_timeout_s`` from :meth:`spawn`, or once ``stopping()``);
        then watch them (restarts, a health line every minute)."""
        begin = self._begin
        waiting = {s.name for s in self.services}
        deadline = begin + self.cfg.start_timeout_s
        while waiting:
            if stopping is not None and stopping():
                self.stop()
                raise ServiceError("stopped while the services were loading")
            for service in self.services:
                if service.name not in waiting:
                    continue
                stage = service.new_stage()
                if stage:
                    say(f"{service.name} service: {stage} ({time.monotonic() - begin:.0f} s)")
                if stage == "failed" or not service.alive():
                    self.stop()
                    error = service.status().get("error", "exited")
                    raise ServiceError(
                        f"the {service.name} service did not start: {error}",
                        hint=f"see {service.log_path}",
                    )
                if service.status().get("stage") == "ready" and service.health().get("ok"):
                    waiting.discard(service.name)
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(
                    f"services not ready after {self.cfg.start_timeout_s:.0f} s: "
                    + ", ".join(sorted(waiting)),
                    hint=f"see the logs in {self.folder}",
                )
            time.sleep(0.2)
        say(f"speech and dialog services ready in {time.monotonic() - begin:.0f} s")
        self._watcher = threading.Thread(target=self._watch, name="services", daemon=True)
        self._watcher.start()

    def _start_redis(self) -> None:
        """redis-server for a ``dialog.tracker_store`` Redis URL on this host that nothing
        answers yet (the one starter, :mod:`voicebot.center.redis_server`)."""
        from voicebot.center.redis_server import redis_settings, server_for_url

        spec = dialog_config(self.settings).tracker_store
        if not spec.startswith("redis://"):
            return
        where = urlsplit(spec)
        address = f"{where.hostname}:{where.port or 6379}"
        self.redis = server_for_url(spec, redis_settings(self.settings), self.folder / "redis")
        say(f"{'started redis-server' if self.redis else 'using the Redis server'} on {address}")

    # ------------------------------------------------------------------ running

    def health_line(self) -> str:
        """One line: each service up or down, its memory and its requests so far."""
        parts = []
        for name, info in self.health().items():
            if not info.get("ok"):
                parts.append(f"{name} DOWN (restarts {info['restarts']})")
                continue
            ops = " ".join(
                f"{op}={s['count']}/{s['queue_ms_mean']:.0f}+{s['run_ms_mean']:.0f}ms"
                for op, s in info.get("ops", {}).items()
            )
            parts.append(
                f"{name} up {info.get('rss_mb', 0):.0f} MB restarts {info['restarts']} {ops}"
            )
        return "health: " + "; ".join(parts)

    def _watch(self) -> None:
        next_health = time.monotonic() + HEALTH_EVERY_S
        while not self._stop.wait(0.5):
            if time.monotonic() > next_health:
                next_health = time.monotonic() + HEALTH_EVERY_S
                say(self.health_line())
            for service in self.services:
                if service.alive():
                    stage = service.new_stage()
                    if stage and service.restarts:
                        say(f"{service.name} service: {stage}")
                    continue
                if time.monotonic() - service.started < RESTART_GAP_S:
                    continue
                code = service.proc.returncode if service.proc else None
                say(f"{service.name} service exited (status {code}); restarting")
                service.restarts += 1
                service.spawn()

    def health(self) -> dict[str, Any]:
        """Each service's health answer (``ok: false`` and the error when it is down)."""
        out: dict[str, Any] = {}
        for service in self.services:
            info = service.health()
            info["restarts"] = service.restarts
            out[service.name] = info
        return out

    def pids(self) -> list[int]:
        pids = [s.proc.pid for s in self.services if s.proc is not None and s.alive()]
        if self.redis is not None and self.redis.proc is not None:
            if self.redis.proc.poll() is None:
                pids.append(self.redis.proc.pid)
        return pids

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(2)
        for service in self.services:
            service.stop()
        if self.redis is not None:
            self.redis.stop()

    def __enter__(self) -> HostServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
