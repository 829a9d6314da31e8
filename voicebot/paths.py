"""Where voicebot finds its project files and keeps its run-time state.

The project root is the folder holding ``nlu/``, ``dialogs/`` and ``models/``; it defaults to
the checkout this package lives in and can be moved with ``VOICEBOT_HOME``. Run-time state
(customer database, hand-off records, messages, logs) lives under ``var/`` there, or under
``VOICEBOT_VAR``.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULTS_DIR = PACKAGE_DIR / "defaults"


def project_root() -> Path:
    """The project folder (nlu/, dialogs/, models/)."""
    env = os.environ.get("VOICEBOT_HOME")
    return Path(env).resolve() if env else PACKAGE_DIR.parent


def var_dir() -> Path:
    """Run-time state folder, created on first use."""
    env = os.environ.get("VOICEBOT_VAR")
    path = Path(env).resolve() if env else project_root() / "var"
    path.mkdir(parents=True, exist_ok=True)
    return path


def nlu_dir() -> Path:
    return project_root() / "nlu"


def dialogs_dir() -> Path:
    return project_root() / "dialogs"


def models_dir() -> Path:
    return project_root() / "models"
