"""``voicebot models``: list, install (folder, zip, file:// and http://127.0.0.1 URLs), errors."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from voicebot.cli import main
from voicebot.errors import ModelError
from voicebot.models_registry import install_vosk, vosk_model_path, vosk_problems


def make_model(root: Path, graph: str = "HCLG") -> Path:
    """A folder with the structure of a Vosk model (tiny placeholder files)."""
    files = ["am/final.mdl", "conf/mfcc.conf", "conf/model.conf", "README"]
    files += (
        ["graph/HCLG.fst", "graph/words.txt"]
        if graph == "HCLG"
        else ["graph/HCLr.fst", "graph/Gr.fst"]
    )
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * 64)
    return root


def zip_folder(folder: Path, dest: Path, top: str | None = None) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in folder.rglob("*"):
            if p.is_file():
                zf.write(p, f"{top or folder.name}/{p.relative_to(folder)}")
    return dest


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away project root: installs land in its models/asr."""
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    monkeypatch.setenv("VOICEBOT_HOME", str(root))
    return root


@pytest.fixture()
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a folder: (base URL, folder)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


def test_structure_check_names_what_is_missing(tmp_path: Path) -> None:
    assert vosk_problems(make_model(tmp_path / "ok")) == []
    assert vosk_problems(make_model(tmp_path / "lookahead", graph="HCLr")) == []
    broken = make_model(tmp_path / "broken")
    (broken / "am" / "final.mdl").unlink()
    (broken / "graph" / "HCLG.fst").unlink()
    problems = vosk_problems(broken)
    assert "no am/final.mdl" in problems and any("decoding graph" in p for p in problems)


def test_install_from_folder_and_zip(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_model(tmp_path / "vosk-model-test-0.1")
    assert main(["models", "install", "vosk", str(src)]) == 0
    target = home / "models" / "asr" / "vosk-model-test-0.1"
    assert (target / "am" / "final.mdl").is_file()
    assert vosk_model_path(str(target)) == target
    # zip with the model in a top folder, installed under another name
    archive = zip_folder(src, tmp_path / "m.zip", top="vosk-model-zipped")
    assert main(["models", "install", "vosk", str(archive), "--name", "zipped"]) == 0
    assert (home / "models" / "asr" / "zipped" / "graph" / "HCLG.fst").is_file()
    out = capsys.readouterr().out
    assert "installed Vosk model" in out and "sha256" in out
    # listed as installed
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert "vosk (zipped)" in listing and "installed" in listing
    assert "whisper (tiny.en, packaged)" in listing and "piper (en_US-joe-medium)" in listing
    # same name again: refused without --force
    assert main(["models", "install", "vosk", str(src)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["models", "install", "vosk", str(src), "--force"]) == 0


def test_install_rejects_what_is_not_a_model(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk"
    (junk / "stuff").mkdir(parents=True)
    (junk / "stuff" / "a.txt").write_text("hi")
    assert main(["models", "install", "vosk", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "error[model-missing]" in err and "no am/final.mdl" in err
    notzip = tmp_path / "model.zip"
    notzip.write_text("not a zip")
    with pytest.raises(ModelError, match="neither a folder nor a zip"):
        install_vosk(str(notzip), dest_dir=tmp_path / "dest")
    with pytest.raises(ModelError, match="not found"):
        install_vosk(str(tmp_path / "missing.zip"), dest_dir=tmp_path / "dest")
    assert not (home / "models" / "asr").exists() or not any((home / "models" / "asr").iterdir())


def test_install_from_file_url(home: Path, tmp_path: Path) -> None:
    archive = zip_folder(
        make_model(tmp_path / "src"), tmp_path / "vosk-model-file.zip", top="vosk-model-file"
    )
    result = install_vosk(archive.as_uri())
    assert result.path == home / "models" / "asr" / "vosk-model-file"
    assert result.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()


def test_install_from_http_with_checksum_and_progress(
    home: Path, tmp_path: Path, http_server: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, www = http_server
    archive = zip_folder(
        make_model(tmp_path / "src"), www / "vosk-model-web-0.2.zip", top="vosk-model-web-0.2"
    )
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    url = f"{base}/vosk-model-web-0.2.zip"
    seen: list[tuple[int, int | None]] = []
    result = install_vosk(url, sha256=digest, progress=lambda d, t: seen.append((d, t)))
    assert (result.path / "am" / "final.mdl").is_file()
    assert seen and seen[-1] == (archive.stat().st_size, archive.stat().st_size)
    # the CLI shows a tqdm bar on stderr
    assert main(["models", "install", "vosk", url, "--sha256", digest, "--name", "web2"]) == 0
    assert "download" in capsys.readouterr().err
    # wrong checksum, missing checksum, unreachable server: clear errors, nothing installed
    with pytest.raises(ModelError, match="checksum mismatch"):
        install_vosk(url, sha256="0" * 64, name="bad")
    with pytest.raises(ModelError, match="needs its SHA-256"):
        install_vosk(url, name="bad")
    with pytest.raises(ModelError, match="cannot download") as err:
        install_vosk(f"{base}/nothing-here.zip", sha256=digest, name="bad")
    assert "network" in (err.value.hint or "")
    assert not (home / "models" / "asr" / "bad").exists()


def test_zip_with_path_traversal_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.txt", "x")
    with pytest.raises(ModelError, match="unsafe path"):
        install_vosk(str(evil), dest_dir=tmp_path / "dest")
    assert not (tmp_path.parent / "escape.txt").exists()


def test_missing_configured_vosk_model_is_reported(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "missing: Vosk model not found" in out
    with pytest.raises(ModelError) as err:
        vosk_model_path("models/asr/none")
    assert "voicebot models install vosk" in (err.value.hint or "")


@pytest.mark.slow
def test_validate_loads_models_and_names_the_broken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "voicebot.yml"
    settings.write_text(f"tts:\n  voice: {tmp_path / 'missing-voice.onnx'}\n", encoding="utf-8")
    monkeypatch.setenv("VOICEBOT_CONFIG", str(settings))
    assert main(["models", "validate"]) == 1
    out = capsys.readouterr().out
    assert "OK    asr whisper: loaded" in out
    assert "FAIL  tts piper: Piper voice model not found" in out and "tts.voice" in out
