"""Settings: embedded defaults (``voicebot/defaults/voicebot.yml``) overlaid by a user file.

The user file is ``--config PATH`` or ``$VOICEBOT_CONFIG``; only the keys it sets change.
Each stage owns one top-level section and turns it into its own frozen dataclass with
:func:`section_to`, so a stage never reads another stage's settings::

    settings = load_settings()
    asr_cfg = section_to(AsrConfig, settings, "asr")

Unknown keys and wrong types are :class:`~voicebot.errors.ConfigError` with the section and
key named, never a silent default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from voicebot.errors import ConfigError
from voicebot.paths import DEFAULTS_DIR

DEFAULTS_FILE = DEFAULTS_DIR / "voicebot.yml"

T = TypeVar("T")
Settings = dict[str, dict[str, Any]]


def read_yaml(path: Path, what: str) -> Any:
    """Parse a YAML file, turning every failure into a ConfigError that names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found: {path}") from exc
    except OSError as exc:
        raise ConfigError(f"{what} cannot be read: {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {path} is not UTF-8 text (byte {exc.start}): is it a binary file?"
        ) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{what} {path} is not valid YAML{where}: {problem}") from exc


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(path: Path | str | None = None) -> Settings:
    """Defaults overlaid with ``path`` (or ``$VOICEBOT_CONFIG`` when ``path`` is None)."""
    settings = read_yaml(DEFAULTS_FILE, "embedded default settings")
    user = path if path is not None else os.environ.get("VOICEBOT_CONFIG")
    if user:
        extra = read_yaml(Path(user), "settings file")
        if extra is None:
            extra = {}
        if not isinstance(extra, dict):
            raise ConfigError(f"settings file {user} must be a mapping of sections")
        for name, section in extra.items():
            if name not in settings:
                known = ", ".join(sorted(settings))
                raise ConfigError(
                    f"settings file {user}: unknown section '{name}' (known: {known})"
                )
            if not isinstance(section, dict):
                raise ConfigError(f"settings file {user}: section '{name}' must be a mapping")
        settings = _merge(settings, extra)
    return settings


def _check_type(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_check_type(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    if typing.get_origin(hint) is typing.Literal:
        return value in typing.get_args(hint)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def section_to(cls: type[T], settings: Settings, name: str) -> T:
    """Build dataclass ``cls`` from section ``name``; unknown keys or wrong types raise."""
    raw = settings.get(name) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"settings section '{name}' must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"settings section '{name}': unknown key '{key}' (known: {known})")
        if not _check_type(value, hints[key]):
            raise ConfigError(
                f"settings section '{name}': '{key}' = {value!r} is not a valid {hints[key]}"
            )
        if isinstance(value, list) and typing.get_origin(hints[key]) is tuple:
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)
