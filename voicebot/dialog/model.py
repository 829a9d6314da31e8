"""Finding and loading the trained Rasa model (blocking: about 25 s and 1.4 GB)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicebot.errors import ModelError

if TYPE_CHECKING:
    from rasa.core.agent import Agent

log = logging.getLogger(__name__)


def latest_model(models_dir: Path) -> Path:
    """Newest ``*.tar.gz`` in ``models_dir``; ModelError telling how to train if none."""
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise ModelError(
            f"no trained dialog model in {models_dir}",
            hint="run 'voicebot train' (the README's run command trains it automatically)",
        )
    return models[-1]


@contextlib.contextmanager
def eager_weight_build() -> Iterator[None]:
    """While loading, DIET's and TED's one-example ``fit`` runs eagerly.

    Rasa 3.6 builds each TensorFlow model's variables by training it on one example
    (``RasaModel.load``: compile, ``fit``, then ``load_weights`` overwrites every weight).
    Tracing and optimising that training step as a graph took 84% of ``Agent.load``
    (py-spy); one eager step makes the same variables in a fraction of it. The weights
    are then loaded from the model as before and prediction is still a traced
    ``tf.function`` (``run_eagerly`` is put back), so what the model decides is unchanged
    (bench/startup_equivalence.py compares the parses and predictions)."""
    from rasa.utils.tensorflow.models import RasaModel

    fit = RasaModel.fit

    def fit_eagerly(self: Any, *args: Any, **kwargs: Any) -> Any:
        configured = self._run_eagerly
        self.run_eagerly = True
        try:
            return fit(self, *args, **kwargs)
        finally:
            self.run_eagerly = configured
            self.train_function = None  # a later fit (fine-tuning) traces its own

    RasaModel.fit = fit_eagerly
    try:
        yield
    finally:
        RasaModel.fit = fit


def load_agent(
    model_path: Path,
    action_endpoint: str | None,
    *,
    tracker_store: Any = None,
    lock_store: Any = None,
) -> Agent:
    """Load a Rasa agent whose custom actions run at ``action_endpoint``; conversations are
    kept in ``tracker_store``/``lock_store`` (:mod:`voicebot.dialog.stores`; default: memory)."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig
    from rasa.utils.log_utils import configure_structlog

    from voicebot.dialog import rasa_patches

    configure_structlog(logging.getLogger("rasa").getEffectiveLevel() or logging.WARNING)
    rasa_patches.apply()

    endpoint = EndpointConfig(url=action_endpoint) if action_endpoint else None
    log.info("loading dialog model %s", model_path)
    try:
        with eager_weight_build():
            agent = Agent.load(
                str(model_path),
                action_endpoint=endpoint,
                tracker_store=tracker_store,
                lock_store=lock_store,
            )
    except Exception as exc:  # Rasa raises many unrelated types for a broken archive
        raise ModelError(
            f"dialog model {model_path} cannot be loaded: {exc}",
            hint="re-train with 'voicebot train --force'",
        ) from exc
    if not agent.is_ready():
        raise ModelError(f"dialog model {model_path} has no dialog policy", hint="re-train")
    return agent
