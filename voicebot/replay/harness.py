"""Start what a simulated call needs: the trained model, an action server, the pipeline."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from voicebot.config import read_yaml
from voicebot.pipeline import Pipeline


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def suite_now(folder: Path) -> str | None:
    """The frozen dialog clock a case folder asks for (``_suite.yml``: ``now:``)."""
    suite = folder / "_suite.yml" if folder.is_dir() else folder.parent / "_suite.yml"
    if suite.exists():
        data = read_yaml(suite, "replay suite settings") or {}
        now = data.get("now") if isinstance(data, dict) else None
        return str(now) if now else None
    return None


@contextmanager
def simulated_pipeline(now: str | None = None) -> Iterator[Pipeline]:
    """Train if needed, run a private action server (clock frozen at ``now``), load models."""
    import tempfile

    from voicebot.config import load_settings
    from voicebot.dialog.action_server import ActionServer
    from voicebot.dialog.training import train

    model, _ = train()
    env = {"VOICEBOT_NOW": now} if now else {}
    if now:
        os.environ["VOICEBOT_NOW"] = now  # the session's own hand-offs use the same clock
    env["VOICEBOT_VAR"] = tempfile.mkdtemp(prefix="voicebot-replay-actions-")
    env["VOICEBOT_DEMO_CUSTOMERS"] = "1"  # the recorded callers are the demo customers
    endpoint = f"http://127.0.0.1:{_free_port()}/webhook"
    print("loading models (dialog, ASR, TTS) ...", file=sys.stderr)
    with ActionServer(endpoint, env=env):
        yield Pipeline.load(load_settings(), action_endpoint=endpoint, model=model)
