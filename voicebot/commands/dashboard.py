"""``voicebot dashboard``: the supervisors' web dashboard, and its users.

``voicebot dashboard`` serves it on ``dashboard.address:port`` (127.0.0.1:8480);
``voicebot dashboard add-user NAME --role supervisor|agent [--department KEY]`` adds a
user to the users file (the password is asked for, or read from stdin with
``--password-stdin``).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

HELP = "the supervisors' web dashboard (live calls, statistics, messages); add-user adds a login"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["serve", "add-user"], default="serve")
    parser.add_argument("name", nargs="?", help="add-user: the user's login name")
    parser.add_argument("--port", type=int, help="serve: port (default dashboard.port)")
    parser.add_argument("--address", help="serve: address (default dashboard.address)")
    parser.add_argument("--role", choices=["supervisor", "agent"], help="add-user: role")
    parser.add_argument("--department", help="add-user: an agent's department key")
    parser.add_argument(
        "--password-stdin", action="store_true", help="add-user: read the password from stdin"
    )


def run(args: argparse.Namespace) -> int:
    from voicebot.config import load_settings
    from voicebot.errors import ConfigError

    settings = load_settings()
    if args.action == "add-user":
        from voicebot.web.auth import UserDirectory
        from voicebot.web.common import dashboard_config

        if not args.name or not args.role:
            raise ConfigError("add-user needs a NAME and --role supervisor|agent")
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.name}: ")
            if password != getpass.getpass("again: "):
                raise ConfigError("the passwords differ")
        if len(password) < 8:
            raise ConfigError("a password needs at least 8 characters")
        path = dashboard_config(settings).users_path()
        UserDirectory(path).add(args.name, password, args.role, args.department)
        print(f"user {args.name} ({args.role}) saved in {path}")
        return 0
    from voicebot.web.app import run_dashboard

    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    run_dashboard(settings, port=args.port, address=args.address)
    return 0
