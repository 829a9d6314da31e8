"""Answering-machine detection (voicebot/center/campaigns/amd.py) on real recordings that are
not the bot's voice: FSDD digits and Asterisk prompts (real people) from ../shared/eval,
flite voices, synthetic beeps. The accuracy check runs the report set of
voicebot/center/campaigns/amd_data.py (the thresholds were tuned on the other set)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicebot.center.campaigns.amd import AmdDetector, classify
from voicebot.center.campaigns.amd_data import beep, build_set, read_wav, silence
from voicebot.errors import AudioError

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"


@pytest.fixture(scope="module")
def eval_dir() -> Path:
    if not (EVAL / "audio" / "manifest.tsv").exists():
        pytest.skip(f"evaluation audio not found in {EVAL}")
    return EVAL


def feed_all(det: AmdDetector, audio: np.ndarray) -> None:
    for i in range(0, audio.size - 159, 160):
        det.feed(audio[i : i + 160])


@pytest.mark.parametrize("hz", [440.0, 1000.0, 1400.0, 1950.0])
def test_a_beep_is_a_machine_and_ends_the_greeting(hz: float) -> None:
    det = AmdDetector()
    feed_all(det, np.concatenate([silence(0.5), beep(hz, 0.4), silence(0.3)]))
    assert det.result is not None and det.result.verdict == "machine"
    assert det.result.reason == "beep"
    assert det.greeting_over() == "beep"


def test_a_tone_below_the_band_or_too_short_is_no_beep() -> None:
    for audio in (beep(200.0, 0.6), beep(1000.0, 0.08)):
        det = AmdDetector()
        feed_all(det, np.concatenate([silence(0.3), audio, silence(0.2)]))
        assert not det.beep_seen


def test_a_short_real_greeting_then_silence_is_a_person(eval_dir: Path) -> None:
    hello = read_wav(eval_dir / "audio" / "fsdd" / "recordings" / "0_nicolas_3.wav")
    result = classify(np.concatenate([silence(0.4), hello]))
    assert (result.verdict, result.reason) == ("person", "short greeting")
    assert result.at_s < 0.4 + hello.size / 8000 + 1.0  # decided within a second of the end


def test_a_long_uninterrupted_greeting_is_a_machine(eval_dir: Path) -> None:
    prompt = read_wav(eval_dir / "audio" / "asterisk_core_sounds_en" / "wav" / "agent-pass.wav")
    assert prompt.size / 8000 > 3.0
    result = classify(prompt)
    assert (result.verdict, result.reason) == ("machine", "long greeting")
    assert 2.5 < result.at_s < 3.0


def test_silence_is_taken_for_a_person_who_waits() -> None:
    result = classify(silence(1.0))
    assert (result.verdict, result.reason) == ("person", "silence")


def test_a_frame_of_the_wrong_size_is_a_clear_error() -> None:
    with pytest.raises(AudioError, match="160 samples"):
        AmdDetector().feed(b"\0" * 100)


def test_accuracy_on_the_report_set(eval_dir: Path) -> None:
    items = build_set("report", eval_dir)
    people = [i for i in items if i.label == "person"]
    machines = [i for i in items if i.label == "machine"]
    assert len(people) > 80 and len(machines) > 50
    right = {"person": 0, "machine": 0}
    for item in items:
        right[item.label] += classify(item.audio).verdict == item.label
    assert right["person"] / len(people) >= 0.9, right
    assert right["machine"] / len(machines) >= 0.9, right
