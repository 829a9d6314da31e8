"""The ``dialog`` settings section."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voicebot.config import Settings, section_to
from voicebot.paths import project_root


@dataclass(frozen=True)
class DialogConfig:
    """Where the trained model is and where the custom actions run."""

    models_dir: str = "models"
    """Folder of trained Rasa models (newest .tar.gz is used), relative to the project."""
    action_endpoint: str = "http://127.0.0.1:5055/webhook"
    """Rasa action server webhook (started by ``voicebot serve``/``chat`` when not running)."""
    company: str = "Brightline Energy & Telecom"
    """Name the bot introduces itself with."""
    tracker_store: str = "sqlite"
    """Where the dialog service keeps conversations: ``sqlite`` (var/dialog/), ``memory``, or
    ``redis://[:PASSWORD@]HOST:PORT/DB`` (shared by hosts, with a Redis lock store;
    ``voicebot serve`` starts redis-server, the ``redis`` section's binary, when the URL is
    on this host and nothing answers there)."""

    def models_path(self) -> Path:
        path = Path(self.models_dir)
        return path if path.is_absolute() else project_root() / path


def dialog_config(settings: Settings) -> DialogConfig:
    return section_to(DialogConfig, settings, "dialog")
