"""``voicebot serve``: answer phone calls over SIP.

Starts ``sip.workers`` worker processes behind Kamailio on ``sip.address:sip.port`` (see
:mod:`voicebot.telephony.supervisor`); every call runs ``sip.handler``. ``--demo`` runs the
demo handler instead (a prompt, a recording per call, transfer on digit 9). With
``redis.serve: true`` it starts redis-server first and stops it last.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

from voicebot.config import Settings, load_settings, section_to
from voicebot.paths import var_dir
from voicebot.telephony.settings import SipSettings

HELP = "answer phone calls over SIP (worker processes behind Kamailio)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", help="public SIP/RTP address (default: sip.address)")
    parser.add_argument("--port", type=int, help="public SIP port (default: sip.port)")
    parser.add_argument(
        "--workers", type=int, help="worker processes, 4 calls each; 0 = one process, no Kamailio"
    )
    parser.add_argument("--worker-base-port", type=int, help="first worker SIP port")
    parser.add_argument("--rtp-base-port", type=int, help="first RTP port")
    parser.add_argument("--handler", help="per-call coroutine, module:function")
    demo = parser.add_argument_group("demo handler")
    demo.add_argument(
        "--demo",
        action="store_true",
        help="run the demo handler: prompt, recording, digits, transfer on 9",
    )
    demo.add_argument(
        "--demo-customers",
        action="store_true",
        help="seed the six demo customers (known PINs) into the customer store: demo only",
    )
    demo.add_argument("--demo-prompt", help="WAV file played on answer (default: beeps)")
    demo.add_argument("--demo-record-dir", help="folder for each call's WAV + JSON report")
    demo.add_argument("--demo-transfer", help="SIP URI to transfer to on digit 9")


def run(args: argparse.Namespace) -> int:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    settings = load_settings()
    sip = section_to(SipSettings, settings, "sip")
    overrides = {
        "address": args.address,
        "port": args.port,
        "workers": args.workers,
        "worker_base_port": args.worker_base_port,
        "rtp_base_port": args.rtp_base_port,
        "handler": args.handler,
    }
    env: dict[str, str] = {}
    if args.demo_customers:  # the action server (started below) inherits this
        os.environ["VOICEBOT_DEMO_CUSTOMERS"] = "1"
    if args.demo:
        overrides["handler"] = "voicebot.telephony.demo:handle_call"
        for key, value in (
            ("PROMPT", args.demo_prompt),
            ("RECORD_DIR", args.demo_record_dir),
            ("TRANSFER", args.demo_transfer),
        ):
            if value:
                env[f"VOICEBOT_DEMO_{key}"] = os.path.abspath(value) if key != "TRANSFER" else value
    sip = dataclasses.replace(sip, **{k: v for k, v in overrides.items() if v is not None})
    # Until the supervisor takes SIGTERM over (it drains calls), a SIGTERM — e.g. while the
    # models load — unwinds through the ``finally`` blocks that stop the services, the
    # action server and Redis; Python's default action would end this process alone and
    # leave them running with no parent.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with _dashboard(settings):
        return _serve(sip, settings, env)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _dashboard(settings: Settings) -> Iterator[None]:
    """The web dashboard in its own process while serving, when ``dashboard.with_serve``."""
    from voicebot.web.common import dashboard_config

    if not dashboard_config(settings).with_serve:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-m", "voicebot.cli", "dashboard"])
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _serve(sip: SipSettings, settings: Settings, env: dict[str, str]) -> int:
    from voicebot.telephony.supervisor import Supervisor

    with contextlib.ExitStack() as servers:
        _start_redis(settings, servers)
        if sip.handler != "voicebot.callhandler:handle_call":
            return Supervisor(sip, settings, var_dir() / "sip", env).run()
        # The voice pipeline's dialog runs its custom actions in one shared action server.
        from voicebot.dialog.action_server import ActionServer
        from voicebot.dialog.settings import dialog_config
        from voicebot.services.host import HostServices, say
        from voicebot.services.settings import services_config

        svc = services_config(settings)
        endpoint = dialog_config(settings).action_endpoint
        if svc.mode != "shared" or not svc.start:
            with ActionServer(endpoint):
                return Supervisor(sip, settings, var_dir() / "sip", env).run()
        # one speech and one dialog service for the host; the workers stay thin. The action
        # server and the workers start alongside them (their imports take seconds the
        # models' load covers); Kamailio takes calls once every service answers.
        services = HostServices(settings)
        # every dialog turn waits for the action server's answers: it runs at the dialog's
        # priority (the workers' media work must not delay it either)
        actions = ActionServer(endpoint, nice=services.nice["dialog"])

        def ready(stopping: Callable[[], bool]) -> None:
            services.wait_ready(stopping)
            actions.wait(svc.start_timeout_s)
            say(services.health_line())

        try:
            actions.launch()
            services.spawn()
            return Supervisor(sip, settings, var_dir() / "sip", env).run(ready)
        finally:
            services.stop()
            actions.stop()


def _start_redis(settings: Settings, servers: contextlib.ExitStack) -> None:
    """Start redis-server (stopped when ``servers`` closes) if ``redis.serve`` asks for it."""
    from voicebot.center.redis_server import RedisServer, redis_settings

    redis = redis_settings(settings)
    if redis.serve:
        servers.enter_context(RedisServer(redis, var_dir() / "redis"))
        print(f"voicebot: Redis on {redis.address}:{redis.port}", flush=True)
