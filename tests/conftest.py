"""Shared fixtures: one trained dialog model, one action server and one Rasa agent per run.

The model is trained by ``scripts/test`` before pytest starts (and reused when the data did
not change); loading it takes about 25 s and 1.4 GB, so every dialog test shares one agent.
Run-time state goes to a temporary VOICEBOT_VAR, never into the checkout. The action server
runs with the clock frozen at Monday 2026-11-23 18:30 UTC, when the contracts department is
closed and the others are open.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _kamailio_log import kamailio_log_check  # noqa: F401 - autouse: Kamailio's errors
from _no_skips import register as _register_no_skips

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")
_VAR = tempfile.mkdtemp(prefix="voicebot-test-var-")
os.environ["VOICEBOT_VAR"] = _VAR

FROZEN_NOW = "2026-11-23T18:30:00+00:00"
EVAL_DIR = Path(
    os.environ.get("VOICEBOT_EVAL_DIR") or Path(__file__).resolve().parents[2] / "shared" / "eval"
)


def pytest_configure(config: pytest.Config) -> None:
    """Under CI=true a skipped test fails the run (tests/_no_skips.py)."""
    _register_no_skips(config)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def frozen_now() -> str:
    """The action server's frozen clock (ISO 8601)."""
    return FROZEN_NOW


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    """The shared third-party evaluation data (read-only, never copied)."""
    if not EVAL_DIR.is_dir():
        pytest.skip(f"evaluation data not found at {EVAL_DIR}")
    return EVAL_DIR


@pytest.fixture(scope="session")
def dialog_model() -> Path:
    """The trained dialog model (trains it if scripts/test did not)."""
    from voicebot.dialog.training import train

    model, _ = train()
    return model


@pytest.fixture(scope="session")
def action_endpoint() -> Iterator[str]:
    """A real Rasa action server on a free port, clock frozen, state in a temp folder."""
    from voicebot.dialog.action_server import ActionServer

    state = Path(tempfile.mkdtemp(prefix="voicebot-actions-"))
    endpoint = f"http://127.0.0.1:{free_port()}/webhook"
    server = ActionServer(
        endpoint,
        # the demo customers are seeded only where asked for (a production store starts empty)
        env={
            "VOICEBOT_NOW": FROZEN_NOW,
            "VOICEBOT_VAR": str(state),
            "VOICEBOT_DEMO_CUSTOMERS": "1",
        },
        log_path=state / "action-server.log",
    )
    server.start(timeout_s=90, reuse=False)
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def rasa_agent(dialog_model: Path, action_endpoint: str):  # type: ignore[no-untyped-def]
    from voicebot.dialog.model import load_agent

    return load_agent(dialog_model, action_endpoint)


@pytest.fixture(scope="session")
def event_loop_runner() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for all dialog tests (Rasa's lock store binds to a loop)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()
