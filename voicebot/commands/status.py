"""``voicebot status``: is each per-host service up, and how busy is it.

Asks the speech and dialog services (``services.*_address``) for their health and prints
one line each: state, pid, uptime, memory, requests and mean queue/run times per operation;
then the other hosts' dialog services this host's workers fall back on
(``services.dialog_peers``). ``--json`` prints the raw answers. Exit status 1 when one of
this host's services does not answer (a peer that is down is shown, not counted).
"""

from __future__ import annotations

import argparse
import json

from voicebot.config import load_settings
from voicebot.services.client import ServiceClient
from voicebot.services.protocol import ServiceError
from voicebot.services.settings import services_config

HELP = "health of this host's speech and dialog services"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the raw health answers")


def run(args: argparse.Namespace) -> int:
    cfg = services_config(load_settings())
    answers = {}
    peers = [(f"peer {address}", address) for address in cfg.dialogs()[1:]]
    for name, address in (("speech", cfg.speech()), ("dialog", cfg.dialog()), *peers):
        try:
            answers[name] = ServiceClient(address).health(timeout_s=3.0)
        except ServiceError as exc:
            answers[name] = {"ok": False, "service": name, "error": str(exc)}
    if args.json:
        print(json.dumps(answers, indent=2))
    else:
        for name, info in answers.items():
            if not info.get("ok"):
                print(f"{name:7s} DOWN  {info.get('error')}")
                continue
            ops = ", ".join(
                f"{op} {s['count']} (queue {s['queue_ms_mean']:.0f} ms, run "
                f"{s['run_ms_mean']:.0f} ms, {s['errors']} failed)"
                for op, s in info.get("ops", {}).items()
            )
            print(
                f"{name:7s} up    pid {info.get('pid')}, {info.get('uptime_s', 0):.0f} s, "
                f"{info.get('rss_mb', 0):.0f} MB; {ops or 'no requests yet'}"
            )
    return 0 if all(answers[name].get("ok") for name in ("speech", "dialog")) else 1
