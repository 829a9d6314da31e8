"""Validating and training the dialog model from ``nlu/`` and ``dialogs/``.

Training is skipped when a model trained from exactly the current files exists: the
fingerprint (SHA-256 of every training file's path and bytes) is kept beside the model in
``models/.fingerprint``. Broken YAML is reported with file, line and column before Rasa
sees it; Rasa's own data validation (domain, NLU, story structure) runs next.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from voicebot.errors import DataError
from voicebot.paths import dialogs_dir, models_dir, nlu_dir, project_root

log = logging.getLogger(__name__)

_NOT_TRAINING = {"config.yml", "endpoints.yml", "credentials.yml"}


@dataclass(frozen=True)
class DialogProject:
    """The files a model is trained from."""

    config: Path
    domain: Path
    data: tuple[Path, ...]

    @classmethod
    def discover(cls, root: Path | None = None) -> DialogProject:
        root = root or project_root()
        nlu = root / nlu_dir().name
        dialogs = root / dialogs_dir().name
        config = dialogs / "config.yml"
        domain = dialogs / "domain.yml"
        if not domain.exists() and (dialogs / "domain").is_dir():
            domain = dialogs / "domain"
        for needed in (config, domain, nlu):
            if not needed.exists():
                raise DataError(f"dialog project file missing: {needed}")
        data = sorted(p for p in nlu.rglob("*.yml"))
        for path in sorted(dialogs.glob("*.yml")):
            if path.name not in _NOT_TRAINING and path != domain:
                data.append(path)
        if not data:
            raise DataError(f"no training data (*.yml) under {nlu} or {dialogs}")
        return cls(config, domain, tuple(data))

    def files(self) -> list[Path]:
        domain_files = sorted(self.domain.rglob("*.yml")) if self.domain.is_dir() else [self.domain]
        return [self.config, *domain_files, *self.data]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        root = project_root()
        for path in self.files():
            digest.update(
                str(path.relative_to(root) if path.is_relative_to(root) else path).encode()
            )
            digest.update(path.read_bytes())
        return digest.hexdigest()


def check_yaml(paths: list[Path]) -> None:
    """Parse every file; the first broken one raises DataError with file, line, column."""
    for path in paths:
        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise DataError(f"{path}{where}: broken YAML: {problem}") from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text") from exc


def validate(project: DialogProject) -> None:
    """YAML syntax, then Rasa's data validation; DataError listing what is wrong."""
    check_yaml(project.files())
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    from rasa.shared.exceptions import RasaException
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.validator import Validator

    try:
        importer = TrainingDataImporter.load_from_config(
            str(project.config), str(project.domain), [str(p) for p in project.data]
        )
        validator = Validator.from_importer(importer)
        if importer.get_domain().is_empty():
            raise DataError(f"the domain {project.domain} is empty or invalid")
        checks = {
            "domain": validator.verify_domain_validity(),
            "actions in stories/rules": validator.verify_actions_in_stories_rules(),
            "forms in stories/rules": validator.verify_forms_in_stories_rules(),
            "form slots": validator.verify_form_slots(),
            "slot mappings": validator.verify_slot_mappings(),
            "NLU data": validator.verify_nlu(True),
            "story structure": validator.verify_story_structure(True),
        }
    except RasaException as exc:
        raise DataError(f"dialog data is invalid: {exc}") from exc
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise DataError(
            "Rasa data validation failed: " + ", ".join(failed),
            hint="the messages above name the files and examples",
        )


def fingerprint_file() -> Path:
    return models_dir() / ".fingerprint.json"


def up_to_date(project: DialogProject) -> Path | None:
    """The model trained from exactly these files, if it is still there."""
    try:
        info = json.loads(fingerprint_file().read_text())
    except (OSError, json.JSONDecodeError):
        return None
    model = models_dir() / str(info.get("model", ""))
    if info.get("fingerprint") == project.fingerprint() and model.is_file():
        return model
    return None


def train(project: DialogProject | None = None, *, force: bool = False) -> tuple[Path, bool]:
    """Train (or reuse) the dialog model; returns (model path, whether it was trained now)."""
    project = project or DialogProject.discover()
    if not force:
        existing = up_to_date(project)
        if existing is not None:
            return existing, False
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa's debug lines would bury the progress bars
    validate(project)
    from rasa.model_training import train as rasa_train

    out = models_dir()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = rasa_train(
        domain=str(project.domain),
        config=str(project.config),
        training_files=[str(p) for p in project.data],
        output=str(out),
        force_training=True,
        fixed_model_name=f"dialog-{time.strftime('%Y%m%d-%H%M%S')}",
    )
    if result.code != 0 or not result.model:
        raise DataError(f"Rasa training failed (code {result.code})")
    model = Path(result.model)
    fingerprint_file().write_text(
        json.dumps(
            {
                "fingerprint": project.fingerprint(),
                "model": model.name,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )
    for old in out.glob("*.tar.gz"):
        if old != model:
            old.unlink()
    return model, True
