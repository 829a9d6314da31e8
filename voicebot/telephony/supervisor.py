"""``voicebot serve``: worker processes behind Kamailio, one public SIP address.

The pjsua2 wheel takes 4 calls per process, so the supervisor starts ``sip.workers``
processes (:mod:`voicebot.telephony.worker`), each one Endpoint on
``worker_address:worker_base_port + i`` with its own RTP port range, and then Kamailio on
``address:port`` dispatching INVITEs over them (:mod:`voicebot.telephony.kamailio`).
With ``sip.workers: 0`` one line runs in this process on ``address:port``, no Kamailio.

SIGTERM / SIGINT: every worker drains (new INVITEs 503; Kamailio tries the others, all
answer 503, so the caller gets 503), calls in progress end or are hung up after
``shutdown_grace_s``; then Kamailio stops and the command exits 0. A worker that dies is
restarted (at most once every 5 s); at once, its calls are ended through Kamailio's RPC
(BYE to each caller, :mod:`voicebot.telephony.kamrpc`) and it leaves the dispatcher until
it is ready again. Logs and generated files live in ``var/sip/``.

Several hosts (``sip.role``): ``proxy`` runs Kamailio only (for ``sip.remote_workers``),
``host`` runs workers only and ends a dead worker's calls through ``sip.proxy_rpc``.
SIGHUP re-reads ``sip.remote_workers`` from the settings file and has Kamailio dispatch to
that list from then on (adding or removing a host without a restart).

With ``sip.acd`` on, Kamailio is also the agents' registrar, and the supervisor copies the
registrations onto the agent board (``var/acd.sqlite3`` or Redis, ``sip.acd_board``) every 2 s
(:mod:`voicebot.center.registrations`).

Admission control (``sip.max_calls``, :mod:`voicebot.telephony.admission`): Kamailio refuses
calls beyond each host's capacity with 503; the banner prints the capacity, and a line
``health: calls N/CAP on HOST; refused R`` follows every minute and whenever calls were
refused since the last line (at most every ``LOAD_EVERY_S``).

Kamailio's own ERROR-or-worse log lines (:mod:`voicebot.telephony.kamlog`) are repeated on
stderr as ``voicebot: kamailio ERROR: ...`` within a second, counted on the health line, and
summed when the service stops: a misconfigured module that only logs is not left unseen.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from voicebot.center.board_api import board_clock
from voicebot.config import Settings, load_settings, section_to
from voicebot.errors import TelephonyError, VoicebotError
from voicebot.services.priority import start_at_nice
from voicebot.telephony.admission import HostLoad, host_capacities
from voicebot.telephony.kamailio import (
    KamailioProcess,
    Worker,
    remote_workers_of,
    workers_of,
)
from voicebot.telephony.kamlog import KamailioLogWatch
from voicebot.telephony.kamrpc import DownWatch, KamailioRpc
from voicebot.telephony.settings import SipSettings
from voicebot.telephony.worker import load_handler, load_prepare, serve_line

log = logging.getLogger(__name__)

RESTART_GAP_S = 5.0
"""Seconds between two restarts of the same worker."""
LOAD_EVERY_S = 5.0
"""Seconds between two reads of the hosts' calls and refusals from Kamailio."""
HEALTH_EVERY_S = 60.0
"""Seconds between two ``health: calls ...`` lines when no call was refused."""
KAMLOG_EVERY_S = 1.0
"""Seconds between two reads of Kamailio's log for new ERROR-or-worse lines."""
KAMLOG_SHOWN = 5
"""At most this many of Kamailio's error lines repeated per read (the rest are counted)."""


def _registration_sync(rpc: KamailioRpc, settings: Settings) -> Any:
    """The agents' registrations from Kamailio onto the agent board (``sip.acd``; SQLite or
    Redis, ``sip.acd_board``)."""
    from voicebot.center.agents import load_agents
    from voicebot.center.board_api import open_board
    from voicebot.center.registrations import RegistrationSync

    return RegistrationSync(rpc, open_board(settings, load_agents()))


def _agent_access(sip: SipSettings) -> Any:
    """What Kamailio checks of the agents' phones (``sip.acd``), or None."""
    if not sip.acd:
        return None
    from voicebot.center.agents import load_agents
    from voicebot.telephony.agentauth import AgentAccess

    access = AgentAccess.from_roster(load_agents(), sip.agent_auth)
    if not sip.agent_auth:
        log.warning("sip.agent_auth is off: any phone on allowed_networks registers as an agent")
    elif not access.ha1:
        log.warning("no agent in the agents file has a password: no agent phone can register")
    return access


class Supervisor:
    """Runs the SIP service until SIGTERM/SIGINT.

    Args:
        sip: the effective ``sip`` settings (after command-line overrides).
        settings: all settings, handed to the workers (the handler reads its own sections).
        folder: run-time folder (generated Kamailio config, worker logs, ready files).
        env: extra environment for the workers (e.g. the demo handler's options).
    """

    def __init__(
        self, sip: SipSettings, settings: Settings, folder: Path, env: dict[str, str] | None = None
    ) -> None:
        self.sip = sip
        self.settings = settings
        self.folder = folder
        self.env = env or {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started: dict[str, float] = {}
        self.kamailio: KamailioProcess | None = None
        self.rpc: KamailioRpc | None = None
        self.watch: DownWatch | None = None
        self._released: set[str] = set()
        self._stop = False
        self._reload = False
        self.registrations: Any = None
        self.load: HostLoad | None = None
        self._load_next = 0.0
        self._health_next = 0.0
        self._refused = 0
        self.kamlog: KamailioLogWatch | None = None
        self._kamlog_next = 0.0

    def run(self, services_ready: Callable[[Callable[[], bool]], None] | None = None) -> int:
        """Serve until SIGTERM/SIGINT. ``services_ready(stopping)``, when given, is called
        once the workers are spawned and returns when the host's services answer (the
        workers start while the models load); Kamailio starts, and the service answers
        calls, only after that."""
        load_handler(self.sip.handler)  # fail early, with the CLI's error, on a bad handler
        role = self.sip.role
        if self.sip.workers == 0 and role == "all" and not self.sip.remote_workers:
            if services_ready is not None:
                services_ready(lambda: False)  # (SIGINT still stops it here)
            return self._run_single()
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self._write_settings()
        workers = [] if role == "proxy" else workers_of(self.sip)
        old = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        old[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)
        try:
            for w in workers:
                self._spawn(w, config)
            if services_ready is not None:
                services_ready(lambda: self._stop)
            self._wait_ready(workers)
            if workers:  # (their own logs say when each was listening)
                print(f"voicebot: {len(workers)} workers ready", flush=True)
            if role == "host":
                self.rpc = KamailioRpc(self.sip.proxy_rpc) if self.sip.proxy_rpc else None
            else:
                every = workers + remote_workers_of(self.sip)
                self.kamailio = KamailioProcess(
                    self.sip, every, self.folder / "kamailio", _agent_access(self.sip)
                )
                self.kamlog = KamailioLogWatch(self.kamailio.log_path)
                self.kamailio.start()
                self._report_kamailio_errors()
                self.rpc = KamailioRpc(self.kamailio.rpc_socket)
                self.watch = DownWatch(self.rpc)
                self.load = HostLoad(self.rpc, host_capacities(self.sip, every))
                if self.sip.acd:
                    self.registrations = _registration_sync(self.rpc, self.settings)
            print(self._banner(workers), flush=True)
            while not self._stop:
                self._restart_dead(workers, config)
                self._end_calls_of_unreachable()
                self._report_load()
                self._report_kamailio_errors()
                if self.registrations is not None:
                    try:
                        self.registrations.poll(board_clock(self.registrations.board))
                    except VoicebotError as exc:  # the board's store: next poll tries again
                        log.warning("agent registrations not synced: %s", exc)
                if self._reload:
                    self._reload = False
                    self._reload_remote(workers)
                time.sleep(0.2)
            print("voicebot: stopping: new calls get 503, waiting for calls to end", flush=True)
            if self.kamailio is not None and not self.kamailio.drain():
                log.warning("could not switch Kamailio to 503; workers answer 503 themselves")
            self._stop_workers()
            return 0
        finally:
            self._kill_workers()
            if self.kamailio is not None:
                self.kamailio.stop()
                self._report_kamailio_errors(final=True)
            for sig, handler in old.items():
                signal.signal(sig, handler)

    def _banner(self, workers: list[Worker]) -> str:
        """The line printed once the service takes calls (tests wait for 'answering SIP')."""
        s = self.sip
        if s.role == "host":
            return (
                f"voicebot: answering SIP on {s.worker_address}:{s.worker_base_port}.. "
                f"(host behind a proxy), {len(workers)} workers x {s.calls_per_worker} calls "
                "(the proxy's sip.max_calls admits calls to this host); "
                f"dead workers' calls ended via {s.proxy_rpc or 'nothing (no sip.proxy_rpc)'}; "
                f"logs in {self.folder}"
            )
        remote = f" + {len(s.remote_workers)} on other hosts" if s.remote_workers else ""
        caps = self.load.capacity if self.load is not None else {}
        capacity = ", ".join(f"{c} calls on {h}" for h, c in sorted(caps.items()))
        return (
            f"voicebot: answering SIP on {s.address}:{s.port} ({'+'.join(s.transports)}), "
            f"{len(workers)} workers x {s.calls_per_worker} calls{remote}; capacity "
            f"{capacity} (sip.max_calls {s.max_calls}; beyond it 503, Retry-After "
            f"{s.retry_after_s} s); logs in {self.folder}"
        )

    def _report_load(self) -> None:
        """Print ``health: calls N/CAP ...`` every minute, and soon after calls were refused."""
        now = time.monotonic()
        if self.load is None or now < self._load_next:
            return
        self._load_next = now + LOAD_EVERY_S
        load = self.load.read()
        if load is None:
            return
        if load.refused > self._refused or now >= self._health_next:
            self._refused = load.refused
            self._health_next = now + HEALTH_EVERY_S
            errors = self.kamlog.count if self.kamlog is not None else 0
            said = f"; Kamailio logged {errors} error(s) (see above)" if errors else ""
            print(f"voicebot: health: {load.line()}{said}", flush=True)

    def _report_kamailio_errors(self, final: bool = False) -> None:
        """Repeat Kamailio's new ERROR-or-worse log lines on stderr (``final``: and their
        total since start, once Kamailio has stopped)."""
        now = time.monotonic()
        if self.kamlog is None or (now < self._kamlog_next and not final):
            return
        self._kamlog_next = now + KAMLOG_EVERY_S
        found = self.kamlog.poll()
        for line in found[:KAMLOG_SHOWN]:
            print(f"voicebot: kamailio {line}", file=sys.stderr, flush=True)
        if len(found) > KAMLOG_SHOWN:
            print(
                f"voicebot: kamailio: {len(found) - KAMLOG_SHOWN} more error line(s) in "
                f"{self.kamlog.path}",
                file=sys.stderr,
                flush=True,
            )
        if final and self.kamlog.count:
            print(
                f"voicebot: Kamailio logged {self.kamlog.count} error line(s) since start "
                f"(see {self.kamlog.path})",
                file=sys.stderr,
                flush=True,
            )

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop = True

    def _on_hangup(self, signum: int, frame: Any) -> None:
        self._reload = True

    def _reload_remote(self, workers: list[Worker]) -> None:
        """SIGHUP: dispatch to the ``sip.remote_workers`` the settings file lists now."""
        if self.kamailio is None:
            print("voicebot: SIGHUP ignored: no Kamailio on this host", file=sys.stderr)
            return
        try:
            sip = section_to(SipSettings, load_settings(), "sip")
        except VoicebotError as exc:
            print(f"voicebot: SIGHUP: settings not reloaded: {exc}", file=sys.stderr, flush=True)
            return
        self.sip = dataclasses.replace(self.sip, remote_workers=sip.remote_workers)
        remote = remote_workers_of(self.sip)
        ok = self.kamailio.reload_workers(workers + remote)
        if self.load is not None:  # (the health line names the hosts added)
            self.load.capacity = host_capacities(self.sip, workers + remote)
        print(
            f"voicebot: dispatching to {len(workers)} local + {len(remote)} remote workers"
            + ("" if ok else " (Kamailio did not reload its list)"),
            flush=True,
        )

    def _run_single(self) -> int:
        os.environ.update(self.env)
        prepare = load_prepare(self.sip.handler)
        if prepare is not None:
            prepare()
        print(
            f"voicebot: answering SIP on {self.sip.address}:{self.sip.port} (one process, "
            f"{self.sip.calls_per_worker} calls)",
            flush=True,
        )
        asyncio.run(
            serve_line(
                self.sip,
                load_handler(self.sip.handler),
                sip_address=self.sip.address,
                sip_port=self.sip.port,
                rtp_port=self.sip.rtp_base_port,
                name="line",
            )
        )
        return 0

    def _write_settings(self) -> Path:
        """All settings with the effective ``sip`` section, for the workers to load."""
        sip = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self.sip).items()
        }
        path = self.folder / "settings.yml"
        path.write_text(yaml.safe_dump({**self.settings, "sip": sip}, sort_keys=False))
        return path

    def _spawn(self, w: Worker, config: Path) -> None:
        ready = self.folder / f"{w.name}.ready"
        ready.unlink(missing_ok=True)
        env = {**os.environ, **self.env, "VOICEBOT_CONFIG": str(config)}
        with open(self.folder / f"{w.name}.log", "ab") as logf:
            # its own session is its own task group: nice -n alone would not put it behind
            # the services at all (voicebot.services.priority)
            self.procs[w.name] = start_at_nice(
                [
                    sys.executable,
                    "-m",
                    "voicebot.telephony.worker",
                    "--name",
                    w.name,
                    "--sip-address",
                    w.address,
                    "--sip-port",
                    str(w.port),
                    "--rtp-port",
                    str(w.rtp_port),
                    "--handler",
                    self.sip.handler,
                    "--ready-file",
                    str(ready),
                ],
                self.sip.worker_nice,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.started[w.name] = time.monotonic()

    def _wait_ready(self, workers: list[Worker]) -> None:
        end = time.monotonic() + self.sip.worker_start_s
        waiting = {w.name for w in workers}
        while waiting:
            for name in list(waiting):
                if (self.folder / f"{name}.ready").exists():
                    waiting.discard(name)
                elif self.procs[name].poll() is not None:
                    raise TelephonyError(
                        f"{name} exited at start (status {self.procs[name].returncode})",
                        hint=f"see {self.folder / (name + '.log')}",
                    )
            if self._stop:
                raise TelephonyError("stopped while the workers were starting")
            if time.monotonic() > end:
                raise TelephonyError(
                    f"workers not ready after {self.sip.worker_start_s:.0f} s: "
                    + ", ".join(sorted(waiting))
                )
            time.sleep(0.05)

    def _restart_dead(self, workers: list[Worker], config: Path) -> None:
        for w in workers:
            proc = self.procs.get(w.name)
            if proc is None:
                continue
            if proc.poll() is None:
                if w.name in self._released and (self.folder / f"{w.name}.ready").exists():
                    self._released.discard(w.name)  # restarted and listening again
                    if self.rpc is not None and self.rpc.worker_back(w.address, w.port):
                        log.info("%s is back in Kamailio's dispatcher", w.name)
                continue
            if w.name not in self._released:
                self._released.add(w.name)
                self._release(w, proc.returncode)
            if time.monotonic() - self.started[w.name] < RESTART_GAP_S:
                continue
            print(
                f"voicebot: {w.name} exited (status {proc.returncode}); restarting",
                file=sys.stderr,
                flush=True,
            )
            self._spawn(w, config)

    def _end_calls_of_unreachable(self) -> None:
        """Proxy: end the calls of workers Kamailio's probes stopped reaching (a host gone)."""
        if self.watch is None:
            return
        for address, port, ended in self.watch.poll(time.monotonic()):
            print(
                f"voicebot: worker {address}:{port} stopped answering Kamailio's probes; "
                f"ended {ended} of its calls",
                file=sys.stderr,
                flush=True,
            )

    def _release(self, w: Worker, status: int | None) -> None:
        """End the calls of worker ``w``, which just died, so no caller stays in dead air."""
        if self.rpc is None:
            print(
                f"voicebot: {w.name} died (status {status}); its calls cannot be ended "
                "(no sip.proxy_rpc); Kamailio's dialog keepalive ends them",
                file=sys.stderr,
                flush=True,
            )
            return
        done = self.rpc.release_worker(w.address, w.port)
        print(
            f"voicebot: {w.name} died (status {status}); ended {done.ended} of its "
            f"{done.dialogs} calls through Kamailio"
            + ("" if done.disabled else " (could not take it out of the dispatcher)"),
            file=sys.stderr,
            flush=True,
        )

    def _stop_workers(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + self.sip.shutdown_grace_s + 10.0
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, end - time.monotonic()))

    def _kill_workers(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
