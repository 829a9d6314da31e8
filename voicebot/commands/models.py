"""``voicebot models``: list, validate and install the speech models.

    voicebot models list                       configured + installed models and their status
    voicebot models validate                   load each configured model: OK or what is wrong
    voicebot models install vosk SOURCE        a Vosk model from a zip, a folder or a URL
        [--sha256 HEX] [--name NAME] [--force] [--no-progress]

Installed Vosk models go to ``models/asr/NAME``. A URL download shows a progress bar and
needs the published SHA-256 (file:// URLs excepted).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from voicebot.asr.config import AsrConfig, asr_config
from voicebot.config import load_settings
from voicebot.errors import ConfigError, ModelError, VoicebotError
from voicebot.models_registry import (
    INSTALL_HINT,
    PACKAGED,
    install_vosk,
    installed_vosk_models,
    piper_voice_paths,
    vosk_model_path,
    vosk_problems,
    whisper_model_path,
)
from voicebot.tts.config import TtsConfig, tts_config

HELP = "list, validate and install the ASR/TTS models"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    sub.add_parser("list", help="configured and installed models with their status")
    val = sub.add_parser("validate", help="load each configured model and report OK or the problem")
    val.add_argument("--all", action="store_true", help="also load the engine not selected")
    inst = sub.add_parser("install", help="install a model: install vosk SOURCE")
    inst.add_argument("kind", choices=["vosk"], help="model kind")
    inst.add_argument("source", help="a zip file, a model folder, or an http(s)/file URL")
    inst.add_argument("--sha256", help="expected SHA-256 of the zip (required for http/https)")
    inst.add_argument("--name", help="folder name under models/asr (default: the model's)")
    inst.add_argument("--force", action="store_true", help="replace an installed model")
    inst.add_argument("--no-progress", action="store_true", help="no progress bar")


@dataclass(frozen=True)
class ModelRow:
    """One line of ``voicebot models list``."""

    role: str
    name: str
    path: str
    status: str
    configured: bool


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def model_rows(acfg: AsrConfig, tcfg: TtsConfig) -> list[ModelRow]:
    """Every configured and installed model with a short status (no model is loaded)."""
    rows: list[ModelRow] = []
    try:
        wpath = whisper_model_path(acfg.whisper_model)
        rows.append(
            ModelRow(
                "asr",
                f"whisper ({'tiny.en, packaged' if acfg.whisper_model == PACKAGED else 'folder'})",
                str(wpath),
                f"present, {_size_mb(wpath):.0f} MB",
                acfg.engine == "whisper",
            )
        )
    except ModelError as exc:
        rows.append(
            ModelRow(
                "asr", "whisper", acfg.whisper_model, f"missing: {exc}", acfg.engine == "whisper"
            )
        )
    try:
        vpath = vosk_model_path(acfg.vosk_model)
        rows.append(
            ModelRow(
                "asr",
                f"vosk ({vpath.name})",
                str(vpath),
                f"present, {_size_mb(vpath):.0f} MB",
                acfg.engine == "vosk",
            )
        )
    except ModelError as exc:
        rows.append(
            ModelRow(
                "asr", "vosk", acfg.vosk_model, f"missing: {exc.message}", acfg.engine == "vosk"
            )
        )
    configured_vosk = rows[-1].path
    for path in installed_vosk_models():
        if str(path) == configured_vosk:
            continue
        problems = vosk_problems(path)
        status = "installed" if not problems else "broken: " + "; ".join(problems)
        rows.append(ModelRow("asr", f"vosk ({path.name})", str(path), status, False))
    try:
        model, _ = piper_voice_paths(tcfg.voice)
        rows.append(
            ModelRow(
                "tts",
                f"piper ({model.stem})",
                str(model),
                f"present, {_size_mb(model):.0f} MB",
                True,
            )
        )
    except ModelError as exc:
        rows.append(ModelRow("tts", "piper", tcfg.voice, f"missing: {exc}", True))
    return rows


def _list(acfg: AsrConfig, tcfg: TtsConfig) -> int:
    rows = model_rows(acfg, tcfg)
    width = max(len(r.name) for r in rows)
    print(f"    {'role':4}  {'model':{width}}  status / path")
    for r in rows:
        mark = "*" if r.configured else " "
        print(f"  {mark} {r.role:4}  {r.name:{width}}  {r.status}")
        print(f"    {'':4}  {'':{width}}  {r.path}")
    print("  (* = used by the configured engines)")
    return 0


def validate_models(
    acfg: AsrConfig, tcfg: TtsConfig, *, everything: bool = False
) -> list[tuple[str, str | None]]:
    """Load the configured models: [(what, None if OK else the problem)]."""
    from voicebot.asr import create_engine
    from voicebot.tts.piper import PiperSpeaker

    results: list[tuple[str, str | None]] = []
    engines = ["whisper", "vosk"] if everything else [acfg.engine]
    for engine in engines:
        cfg = AsrConfig(**{**acfg.__dict__, "engine": engine})
        t0 = time.perf_counter()
        try:
            asr = create_engine(cfg)
            asr.transcribe(__import__("numpy").zeros(8000, dtype="int16"))
            results.append((f"asr {engine}: loaded in {time.perf_counter() - t0:.1f} s", None))
        except VoicebotError as exc:
            results.append((f"asr {engine}", str(exc)))
    t0 = time.perf_counter()
    try:
        speaker = PiperSpeaker(tcfg)
        pcm = speaker.render("OK.")
        if pcm.size == 0:
            raise ModelError("the voice produced no audio", hint="reinstall the voice")
        results.append((f"tts piper: loaded and spoke in {time.perf_counter() - t0:.1f} s", None))
    except VoicebotError as exc:
        results.append(("tts piper", str(exc)))
    return results


def _validate(acfg: AsrConfig, tcfg: TtsConfig, everything: bool) -> int:
    failed = 0
    for what, problem in validate_models(acfg, tcfg, everything=everything):
        if problem is None:
            print(f"OK    {what}")
        else:
            failed += 1
            print(f"FAIL  {what}: {problem}")
    return 1 if failed else 0


def _install(args: argparse.Namespace) -> int:
    bar = None
    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        def progress(done: int, total: int | None) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="B", unit_scale=True, desc="download")
            bar.update(done - bar.n)

    try:
        result = install_vosk(
            args.source, name=args.name, sha256=args.sha256, force=args.force, progress=progress
        )
    finally:
        if bar is not None:
            bar.close()
    print(f"installed Vosk model in {result.path}")
    if result.sha256:
        print(f"sha256 {result.sha256}")
    print(f"use it with:  asr: {{engine: vosk, vosk_model: {result.path}}}  in your settings file")
    return 0


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "models_command", None)
    if action == "install":
        return _install(args)
    settings = load_settings()
    acfg, tcfg = asr_config(settings), tts_config(settings)
    if action == "validate":
        return _validate(acfg, tcfg, args.all)
    if action in (None, "list"):
        return _list(acfg, tcfg)
    raise ConfigError(f"unknown models action {action!r}", hint=INSTALL_HINT)
