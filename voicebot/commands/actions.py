"""``voicebot actions``: run the Rasa action server with the dialog's custom actions."""

from __future__ import annotations

import argparse
import os
from urllib.parse import urlsplit

HELP = "run the Rasa action server (custom actions in dialogs/actions) in the foreground"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, help="port (default: from the dialog settings)")


def run(args: argparse.Namespace) -> int:
    from voicebot.config import load_settings
    from voicebot.dialog.action_server import server_command, server_env
    from voicebot.dialog.settings import dialog_config
    from voicebot.paths import dialogs_dir

    cfg = dialog_config(load_settings())
    port = args.port or urlsplit(cfg.action_endpoint).port or 5055
    os.chdir(dialogs_dir())
    cmd = server_command(port)
    os.execve(cmd[0], cmd, server_env(cfg.action_endpoint))
    return 0  # not reached
