"""The ``voicebot`` command: one sub-command per module in :mod:`voicebot.commands`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Errors from the :mod:`voicebot.errors` tree are printed as
``error[code]: message`` with exit status 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType

from voicebot.errors import VoicebotError

# name -> module under voicebot.commands; modules that are not there yet are skipped.
COMMANDS: dict[str, str] = {
    "serve": "serve",
    "chat": "chat",
    "call": "call",
    "replay": "replay",
    "train": "train",
    "test-dialogs": "test_dialogs",
    "actions": "actions",
    "models": "models",
    "bench": "bench",
    "campaign": "campaign",
    "status": "status",
    "customers": "customers",
    "dashboard": "dashboard",
}


def _load(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"voicebot.commands.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"voicebot.commands.{module}":
            return None
        raise


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(
        prog="voicebot", description="Offline voice bot for call centers."
    )
    parser.add_argument("--config", help="settings file overriding the embedded defaults")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, ModuleType] = {}
    for name, module_name in COMMANDS.items():
        module = _load(module_name)
        if module is None:
            continue
        modules[name] = module
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # Rasa's structlog debug output otherwise
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    if args.config:
        os.environ["VOICEBOT_CONFIG"] = args.config
    try:
        return int(modules[args.command].run(args) or 0)
    except VoicebotError as exc:
        print(f"error[{exc.code}]: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
