"""A call worker stays thin: what it imports to answer calls in ``services.mode: shared``
(the handler, the SIP line, the thin pipeline's modules, a call's VAD) pulls in no model
runtime and no SciPy. Run in a fresh interpreter, as a worker starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER_IMPORTS = """
import json, sys
import voicebot.callhandler
import voicebot.telephony.line
import voicebot.telephony.worker
from voicebot.pipeline import Pipeline
from voicebot.departments import load_departments
from voicebot.records.recorder import open_recorder
from voicebot.services.client import ServiceClient
from voicebot.services.dialog_client import RemoteDialog
from voicebot.services.speech_client import RemoteRecognizer, RemoteSpeaker
from voicebot.tts.config import tts_config
from voicebot.audio.vad import SpeechDetector, VadConfig
from voicebot.fallback import FallbackPrompts
SpeechDetector(VadConfig(), 8000)
rss = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")][0]
print(json.dumps({"modules": sorted(sys.modules), "rss_kb": rss}))
"""

HEAVY = ("scipy", "tensorflow", "rasa", "faster_whisper", "ctranslate2", "piper", "vosk", "torch")


def test_a_worker_imports_no_model_runtime_and_no_scipy() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", WORKER_IMPORTS],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    roots = {name.split(".")[0] for name in data["modules"]}
    assert not roots & set(HEAVY), sorted(roots & set(HEAVY))
    assert "voicebot.tts.piper" not in data["modules"]  # tts.config alone, not the voice
    assert "voicebot.asr.whisper" not in data["modules"]
    # What a worker holds in memory is measured in bench/voice_load.py (per-process RSS and
    # PSS), not asserted here: an RSS bound failed in CI at 118 MB on a clean machine.
