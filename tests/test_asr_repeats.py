"""A one-word answer is not heard twice ("six. six", "yankee" -> "Yangi. Yangi").

Whisper tiny.en in the product's short (8 s) window says many short answers twice; a free
decode that repeats a word, or a phrase of four words or more back to back (a decoding loop
on a long utterance), is decoded again in Whisper's own 30 s window
(``asr.whisper_repeat_recheck``; measured in bench/whisper_settings.py and
bench/speculation.py --ivr). Real Whisper on
real one-word recordings (the Asterisk IVR prompts, 8 kHz) and on espeak-ng single words.
"""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicebot.asr import asr_config
from voicebot.asr.audio import resample_float
from voicebot.asr.normalize import doubled_word, repeated_phrase
from voicebot.asr.whisper import WhisperEngine
from voicebot.config import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine(asr_config(load_settings()))


def pcm8k(path: Path) -> np.ndarray:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    x = resample_float(data[:, 0], rate, 8000)
    return np.clip(x * 32768, -32768, 32767).astype(np.int16)


def one_word_prompts(eval_dir: Path) -> list[tuple[Path, str]]:
    with (eval_dir / "audio" / "manifest.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [
        (eval_dir / r["path"], r["transcript"])
        for r in rows
        if r["source"] == "asterisk-core-sounds-en"
        and r["transcript_kind"].startswith("human")
        and len(r["transcript"].split()) == 1
        and r["transcript"][0].isalpha()
    ]


def test_doubled_word_finds_a_word_said_twice() -> None:
    assert doubled_word("six. six".split()) == "six"
    assert doubled_word("Yangi. Yangi".split()) == "yangi"
    assert doubled_word("one two one".split()) is None
    assert doubled_word([]) is None


def test_repeated_phrase_finds_a_decoding_loop_not_a_sentence() -> None:
    # Whisper tiny.en's output for the IVR prompt vm-tempgreeting2 with hiss at 20 dB SNR,
    # early decode on (bench/results/speculation_ivr.json before the loop check)
    loop = (
        "Press 1 to record your temporary greeting or press 2 to erase your temporary "
        "greeting. Press 1 to record your temporary greeting or press 2 to erase your "
        "temporary greeting. Press 1 to record your temporary greeting or press 2 to erase"
    )
    assert repeated_phrase(loop.split())
    assert repeated_phrase("I want to cancel, I want to cancel my contract".split())
    assert not repeated_phrase("Press 1 to record your temporary greeting".split())
    assert not repeated_phrase("no no no no".split())  # single words: doubled_word's job
    assert not repeated_phrase("press 1 for billing press 2 for sales".split())
    assert not repeated_phrase([])


def test_one_word_ivr_prompts_are_not_heard_twice(engine: WhisperEngine, eval_dir: Path) -> None:
    prompts = one_word_prompts(eval_dir)
    assert len(prompts) >= 40
    doubled = []
    for path, said in prompts:
        heard = engine.transcribe(pcm8k(path), "free").text
        if doubled_word(heard.split()):
            doubled.append(f"{said!r} -> {heard!r}")
    assert doubled == []


@pytest.mark.parametrize("word", ["yankee", "six", "billing", "goodbye", "seventeen"])
def test_espeak_single_words_are_not_heard_twice(
    engine: WhisperEngine, tmp_path: Path, word: str
) -> None:
    wav = tmp_path / f"{word}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), word], check=True)
    heard = engine.transcribe(pcm8k(wav), "free").text
    assert heard.strip() and doubled_word(heard.split()) is None, heard


def test_the_recheck_leaves_repeated_digits_of_a_number_alone(engine: WhisperEngine) -> None:
    """Controlled token input: a number's repeated digits are no reason to decode again."""
    tok = engine._tok
    assert not engine._repeats(tok.encode(" 1 1 2 3"))
    assert not engine._repeats(tok.encode(" one one two three"))
    assert engine._repeats(tok.encode(" Six. Six."))
    assert engine._repeats(tok.encode(" 17. 17"))
    assert engine._repeats(tok.encode(" 17. 17. 17. 17. 17."))  # a loop, before collapse
    assert engine._repeats(tok.encode(" Yangi. Yangi"))
    assert not engine._repeats(tok.encode(" Please hold the line."))
