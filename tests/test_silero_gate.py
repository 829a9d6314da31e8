"""Silero's quiet gate: long line silence is scored without the model, speech and short
pauses still go through it, and the segments of a real recording keep their endpoints.

Real components: the Silero ONNX model of the silero-vad package and a recording from
tests/audio (espeak-ng voice) through a G.711 µ-law round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from voicebot.audio import codecs
from voicebot.audio.scorers import QUIET_DBFS, QUIET_RUN_FRAMES, SileroScorer
from voicebot.audio.vad import VadConfig, detect_segments

AUDIO = Path(__file__).resolve().parent / "audio"


def line(samples: np.ndarray, seed: int = 0) -> np.ndarray:
    """Samples with a -80 dBFS noise floor, through µ-law, as a phone line gives them."""
    rng = np.random.default_rng(seed)
    x = samples.astype(np.float64) + rng.standard_normal(len(samples)) * 3.0
    pcm = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return codecs.ulaw_decode(codecs.ulaw_encode(pcm))


def test_long_silence_skips_the_model_short_pauses_do_not() -> None:
    scorer = SileroScorer(8000, quiet_dbfs=QUIET_DBFS)
    quiet = line(np.zeros(256 * 40))
    frames = quiet.reshape(-1, 256)
    for frame in frames[:QUIET_RUN_FRAMES]:  # a pause of 256 ms: all through the model
        scorer.score(frame)
    assert scorer.skipped == 0
    scores = [scorer.score(frame) for frame in frames[QUIET_RUN_FRAMES:]]
    assert scorer.skipped == len(frames) - QUIET_RUN_FRAMES
    assert scores == [0.0] * len(scores)
    speech, rate = sf.read(str(AUDIO / "hours_us_male" / "01.wav"), dtype="int16")
    assert rate == 8000
    loud = speech[np.argmax(np.abs(speech) > 3000) :][: 256 * 4].reshape(-1, 256)
    before = scorer.skipped
    for frame in loud:
        scorer.score(frame)
    assert scorer.skipped == before  # speech always runs the model
    scorer.reset()
    assert scorer.skipped == 0


def test_gate_keeps_the_segments_of_a_real_call_turn() -> None:
    speech, _ = sf.read(str(AUDIO / "hours_us_male" / "01.wav"), dtype="int16")
    pause = np.zeros(8000 * 3, np.int16)
    stream = line(np.concatenate([pause, speech, pause, speech, pause]))
    config = VadConfig(scorer="silero")
    gated = SileroScorer(8000, quiet_dbfs=QUIET_DBFS)
    plain = SileroScorer(8000)  # the default: no gate
    with_gate = detect_segments(stream, 8000, config, gated)
    without = detect_segments(stream, 8000, config, plain)
    assert len(without) >= 2
    assert plain.skipped == 0 and gated.skipped > 0
    # the same segments and endpoints; a start after a long gated silence may come one
    # 32 ms frame later (the model's state did not run through the silence), well inside
    # the 200 ms pre-roll the ASR gets before it
    assert len(with_gate) == len(without)
    for a, b in zip(with_gate, without, strict=True):
        assert (a.time_s, a.end_s, a.forced) == (b.time_s, b.end_s, b.forced)
        assert abs(a.start_s - b.start_s) <= 0.032 + 1e-9
