"""The pure speech segmenter on synthetic score timelines, and the detector on real speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicebot.audio.scorers import EnergyScorer, SileroScorer, bundled_silero_model
from voicebot.audio.segmenter import SpeechSegmenter
from voicebot.audio.vad import SpeechChunk, SpeechDetector, VadConfig, detect_segments, make_scorer
from voicebot.audio.vad_eval import make_stream, noise_makers, reference_span
from voicebot.audio.wavio import load_audio
from voicebot.config import load_settings, section_to
from voicebot.errors import AudioError, ConfigError, ModelError
from voicebot.events import SpeechEnded, SpeechPaused, SpeechStarted

RATE = 8000
needs_silero = pytest.mark.skipif(bundled_silero_model() is None, reason="silero-vad not installed")


def run_scores(seg: SpeechSegmenter, pattern: str):
    """Feed a pattern of frames: '#' speech (1.0), '.' silence (0.0), '~' in between (0.4)."""
    value = {"#": 1.0, ".": 0.0, "~": 0.4}
    events = [seg.process(value[c]) for c in pattern]
    events.append(seg.flush())
    return [e for e in events if e is not None]


def seg20(**kw) -> SpeechSegmenter:
    base = dict(frame_ms=20.0, min_speech_ms=100, end_silence_ms=200, pre_roll_ms=200, gap_ms=60)
    base.update(kw)
    return SpeechSegmenter(**base)


# --------------------------------------------------------------------- synthetic timelines


def test_clicks_and_short_bursts_do_not_start_a_segment():
    assert run_scores(seg20(), "....#....##.....####......") == []  # 20, 40, 80 ms


def test_segment_times_start_confirm_preroll_and_endpoint():
    # silence 0-0.4 s, speech 0.4-1.0 s, silence after
    events = run_scores(seg20(), "." * 20 + "#" * 30 + "." * 20)
    assert events == [
        SpeechStarted(
            time_s=pytest.approx(0.5), start_s=pytest.approx(0.4), audio_start_s=pytest.approx(0.2)
        ),
        SpeechEnded(
            time_s=pytest.approx(1.2), start_s=pytest.approx(0.4), end_s=pytest.approx(1.0)
        ),
    ]


def test_pre_roll_is_clamped_to_the_stream_start_and_offset_applies():
    events = run_scores(seg20(start_offset_s=10.0), "#" * 10 + "." * 10)
    assert events[0] == SpeechStarted(time_s=10.1, start_s=10.0, audio_start_s=10.0)
    assert events[1].end_s == pytest.approx(10.2)


def test_a_pause_shorter_than_the_endpoint_does_not_split():
    events = run_scores(seg20(), "#" * 10 + "." * 9 + "#" * 10 + "." * 15)  # 180 ms pause
    assert [type(e).__name__ for e in events] == ["SpeechStarted", "SpeechEnded"]
    assert events[1].end_s == pytest.approx(0.58)


def test_a_pause_longer_than_the_endpoint_splits():
    events = run_scores(seg20(), "#" * 10 + "." * 12 + "#" * 10 + "." * 15)  # 240 ms pause
    assert [type(e).__name__ for e in events] == ["SpeechStarted", "SpeechEnded"] * 2


def test_hysteresis_scores_in_between_keep_the_segment_open():
    events = run_scores(seg20(), "#" * 10 + "~" * 30 + "." * 10 + "." * 5)
    assert events[1].time_s == pytest.approx(1.0)  # 0.2 s speech + 0.6 s between + 0.2 s silence
    assert events[1].end_s == pytest.approx(0.2)


def test_a_start_threshold_starts_on_lower_scores_and_the_end_keeps_the_threshold():
    # '~' scores 0.4: under the threshold (0.5) it starts nothing
    assert run_scores(seg20(), "~" * 25 + "." * 15) == []
    # at a start threshold of 0.3, 100 ms of it start a segment; open, the segment is
    # judged by the threshold again: '~' is then neither speech nor silence (hysteresis),
    # so its speech ends with the start run (0.1 s) and 200 ms of '.' end it
    events = run_scores(seg20(start_threshold=0.3), "~" * 25 + "." * 15)
    assert [type(e).__name__ for e in events] == ["SpeechStarted", "SpeechEnded"]
    assert events[0].start_s == 0.0 and events[0].time_s == pytest.approx(0.1)
    assert events[1].end_s == pytest.approx(0.1) and events[1].time_s == pytest.approx(0.7)


def test_a_gap_during_confirmation_resets_the_count():
    # 60 ms, a 60 ms gap, 60 ms: never 100 ms of speech without a >= 60 ms gap
    assert run_scores(seg20(), "###...###" + "." * 10) == []
    # a 40 ms gap does not reset: the 5th speech frame (100 ms) starts it at the first frame
    events = run_scores(seg20(), "###..###" + "." * 12)
    assert events[0].start_s == 0.0 and events[0].time_s == pytest.approx(0.14)


def test_max_speech_forces_an_end_then_a_new_segment_can_start():
    events = run_scores(seg20(max_speech_ms=1000), "#" * 80 + "." * 12)
    assert [(type(e).__name__, getattr(e, "forced", None)) for e in events] == [
        ("SpeechStarted", None),
        ("SpeechEnded", True),
        ("SpeechStarted", None),
        ("SpeechEnded", False),
    ]
    assert events[1].time_s == pytest.approx(1.0)


def test_flush_closes_an_open_segment_at_the_stream_end():
    events = run_scores(seg20(), "." * 5 + "#" * 20)
    assert events[-1] == SpeechEnded(
        time_s=pytest.approx(0.5), start_s=pytest.approx(0.1), end_s=pytest.approx(0.5)
    )


def test_pause_hint_comes_once_per_pause_and_matches_the_end_it_predicts():
    seg = seg20(pause_ms=100)
    # speech, a 120 ms pause (hint, speech resumes), speech, then the real end
    events = run_scores(seg, "#" * 10 + "." * 6 + "#" * 10 + "." * 12)
    names = [type(e).__name__ for e in events]
    assert names == ["SpeechStarted", "SpeechPaused", "SpeechPaused", "SpeechEnded"]
    first, second, ended = events[1], events[2], events[3]
    assert first.end_s == pytest.approx(0.2) and first.time_s == pytest.approx(0.3)
    assert first.end_s != ended.end_s  # speech resumed: that hint is stale
    assert second.end_s == ended.end_s == pytest.approx(0.52)  # this one was right
    assert ended.time_s - second.time_s == pytest.approx(0.1)  # 100 ms earlier than the end
    assert run_scores(seg20(), "#" * 10 + "." * 12)[1:] == [
        SpeechEnded(time_s=pytest.approx(0.4), start_s=0.0, end_s=pytest.approx(0.2))
    ]  # pause_ms = 0: no hints


def test_a_segment_ends_early_at_its_pause_only_while_nothing_changed():
    seg = seg20(pause_ms=100, end_silence_ms=1000)
    hints = [e for e in (seg.process(1.0 if c == "#" else 0.0) for c in "#" * 10 + ".....") if e]
    paused = hints[-1]
    assert isinstance(paused, SpeechPaused)
    seg.process(0.0)  # one more silent frame while the caller decided
    ended = seg.end_if_unchanged(paused)
    assert ended == SpeechEnded(time_s=pytest.approx(0.32), start_s=0.0, end_s=pytest.approx(0.2))
    assert not seg.speaking and seg.end_if_unchanged(paused) is None  # already ended
    # a new segment starts cleanly after an early end
    assert isinstance(run_scores(seg, "#" * 10)[0], SpeechStarted)


def test_an_early_end_is_refused_when_speech_resumed_after_the_pause():
    seg = seg20(pause_ms=100, end_silence_ms=1000)
    events = [seg.process(1.0 if c == "#" else 0.0) for c in "#" * 10 + "....." + "###"]
    paused = next(e for e in events if isinstance(e, SpeechPaused))
    assert seg.end_if_unchanged(paused) is None and seg.speaking
    other = SpeechPaused(time_s=0.3, start_s=0.5, end_s=0.2)  # a different segment's hint
    assert seg.end_if_unchanged(other) is None


def test_vad_settings_section_and_validation():
    cfg = section_to(VadConfig, load_settings(), "vad")
    assert (cfg.scorer, cfg.end_silence_ms, cfg.min_speech_ms, cfg.pre_roll_ms) == (
        "auto",
        200,
        100,
        200,
    )
    with pytest.raises(ConfigError, match="threshold"):
        VadConfig(threshold=1.5)
    with pytest.raises(ConfigError, match="end_silence_ms"):
        VadConfig(end_silence_ms=0)
    with pytest.raises(ConfigError, match="pause_ms"):
        VadConfig(pause_ms=300, end_silence_ms=200)


# --------------------------------------------------------------------- detector on audio


def hiss(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * RATE)) * 32768 * 10 ** (dbfs / 20)).astype(np.int16)


@pytest.fixture(scope="module")
def digits(eval_dir: Path) -> list[np.ndarray]:
    names = [
        "0_jackson_3",
        "1_nicolas_10",
        "2_yweweler_20",
        "5_jackson_44",
        "7_nicolas_5",
        "9_yweweler_7",
    ]
    return [load_audio(eval_dir / f"audio/fsdd/recordings/{n}.wav").samples for n in names]


def test_detector_output_does_not_depend_on_chunk_sizes(digits):
    x = np.concatenate([hiss(1.0, -60), digits[0], hiss(1.0, -60, 1)])
    cfg = VadConfig(scorer="energy")
    whole = SpeechDetector(cfg, RATE).feed(x)
    streamed = []
    det = SpeechDetector(cfg, RATE)
    rng = np.random.default_rng(3)
    pos = 0
    while pos < len(x):
        n = int(rng.integers(1, 700))
        streamed += det.feed(x[pos : pos + n])
        pos += n
    events = [e for e in whole if not isinstance(e, SpeechChunk)]
    assert events == [e for e in streamed if not isinstance(e, SpeechChunk)]
    assert len(events) == 2


def test_detector_takes_float_audio_and_copies_its_input(digits):
    x = np.concatenate([hiss(1.0, -60), digits[3], hiss(1.0, -60, 1)])
    cfg = VadConfig(scorer="energy")
    ref = [e for e in SpeechDetector(cfg, RATE).feed(x) if not isinstance(e, SpeechChunk)]
    floats = [
        e for e in SpeechDetector(cfg, RATE).feed(x / 32768.0) if not isinstance(e, SpeechChunk)
    ]
    assert floats == ref and len(ref) == 2
    det = SpeechDetector(cfg, RATE)
    buf = np.zeros(160, np.int16)
    chunks = []
    for start in range(0, len(x) - 159, 160):  # a line that reuses one buffer
        buf[:] = x[start : start + 160]
        chunks += [e.samples for e in det.feed(buf) if isinstance(e, SpeechChunk)]
    audio = np.concatenate(chunks)
    assert len(np.unique(audio[: 160 * 5].reshape(5, 160), axis=0)) == 5  # frames not aliased


def test_detector_passes_pause_hints_with_the_audio_in_order(digits):
    x = np.concatenate([hiss(1.0, -60), digits[2], hiss(1.0, -60, 1)])
    out = SpeechDetector(VadConfig(scorer="energy", pause_ms=100), RATE).feed(x)
    names = [type(e).__name__ for e in out if not isinstance(e, SpeechChunk)]
    assert names[0] == "SpeechStarted" and names[-1] == "SpeechEnded" and "SpeechPaused" in names
    paused = [e for e in out if isinstance(e, SpeechPaused)][-1]
    assert paused.end_s == out[-1].end_s
    assert out[-1].time_s - paused.time_s == pytest.approx(0.1)


def test_detector_audio_holds_pre_roll_and_the_whole_segment(digits):
    x = np.concatenate([hiss(1.0, -60), digits[1], hiss(1.0, -60, 1)])
    out = SpeechDetector(
        VadConfig(scorer="energy", pre_roll_ms=200), RATE, start_offset_s=5.0
    ).feed(x)
    started = next(e for e in out if isinstance(e, SpeechStarted))
    ended = next(e for e in out if isinstance(e, SpeechEnded))
    chunks = [e for e in out if isinstance(e, SpeechChunk)]
    assert chunks[0].time_s == pytest.approx(started.audio_start_s)
    assert started.start_s - started.audio_start_s == pytest.approx(0.2)
    audio = np.concatenate([c.samples for c in chunks])
    first = round((started.audio_start_s - 5.0) * RATE)
    assert np.array_equal(audio, x[first : first + len(audio)])  # contiguous, nothing lost
    assert chunks[-1].time_s + len(chunks[-1].samples) / RATE <= ended.time_s + 1e-9
    assert 5.0 + (first + len(audio)) / RATE >= ended.end_s


class ScriptedScorer:
    """A FrameScorer that replays a score pattern ('#' 1.0, '.' 0.0, '~' 0.4) per 20 ms frame."""

    rate = RATE
    frame_samples = 160

    def __init__(self, pattern: str) -> None:
        self.values = [{"#": 1.0, ".": 0.0, "~": 0.4}[c] for c in pattern]
        self.i = 0

    def score(self, frame) -> float:
        self.i += 1
        return self.values[self.i - 1] if self.i <= len(self.values) else 0.0

    def segment_ended(self) -> None:
        pass

    def reset(self) -> None:
        self.i = 0


def test_detector_audio_start_matches_the_first_chunk_even_for_a_slow_start():
    # in-between scores keep the start run alive for 1.2 s before 100 ms of speech add up
    pattern = "." * 50 + "#~~~~~~~~~~~" * 5 + "#" * 20 + "." * 20
    x = np.arange(len(pattern) * 160, dtype=np.int64).astype(np.int16)  # sample i holds i
    out = SpeechDetector(VadConfig(), RATE, ScriptedScorer(pattern)).feed(x)
    started = next(e for e in out if isinstance(e, SpeechStarted))
    chunks = [e for e in out if isinstance(e, SpeechChunk)]
    assert started.start_s == pytest.approx(1.0)
    assert chunks[0].time_s == pytest.approx(started.audio_start_s)
    assert started.audio_start_s <= started.start_s  # history may run out, never overlap
    audio = np.concatenate([c.samples for c in chunks])
    first = round(chunks[0].time_s * RATE)
    assert np.array_equal(audio, x[first : first + len(audio)])


@pytest.mark.parametrize("scorer", ["energy", pytest.param("silero", marks=needs_silero)])
def test_real_digits_in_line_hiss_give_one_segment_each(eval_dir, digits, scorer):
    cfg = VadConfig(scorer=scorer)
    makers = noise_makers(eval_dir, [])
    sc = make_scorer(cfg, RATE)
    rng = np.random.default_rng(11)
    for utt in digits:
        stream, ref_start, ref_end = make_stream(utt, makers["hiss"], 20.0, rng)
        segs = detect_segments(stream, RATE, cfg, sc)
        assert len(segs) == 1, (scorer, segs)
        seg = segs[0]
        # the audio handed to the ASR (pre-roll .. endpoint) covers the whole word
        assert seg.start_s - cfg.pre_roll_ms / 1000 <= ref_start and seg.time_s >= ref_end
        assert seg.start_s < ref_start + 0.1 and seg.end_s > ref_end - 0.15
        assert seg.time_s - ref_end <= 0.5  # endpoint: the configured 200 ms plus the word's tail


@needs_silero
def test_silero_keeps_digits_at_5_db_snr_where_energy_misses_some(eval_dir, digits):
    makers = noise_makers(eval_dir, [])
    found = {}
    for scorer in ("energy", "silero"):
        cfg = VadConfig(scorer=scorer)
        sc = make_scorer(cfg, RATE)
        rng = np.random.default_rng(5)
        hits = 0
        for utt in digits:
            stream, a, b = make_stream(utt, makers["hiss"], 5.0, rng)
            hits += any(
                s.start_s < b and s.end_s > a for s in detect_segments(stream, RATE, cfg, sc)
            )
        found[scorer] = hits
    assert found["silero"] == len(digits)
    assert found["energy"] <= found["silero"]


@needs_silero
def test_multi_sentence_prompt_is_one_segment_with_silero(eval_dir):
    utt = load_audio(eval_dir / "audio/asterisk_core_sounds_en/wav/agent-pass.wav").samples
    stream, a, b = make_stream(utt, None, 0.0, np.random.default_rng(0))
    segs = detect_segments(stream, RATE, VadConfig(scorer="silero"))
    assert len(segs) == 1 and segs[0].start_s <= a + 0.05 and segs[0].end_s >= b - 0.05


@needs_silero
def test_recorded_noise_and_silence_start_nothing_with_silero(eval_dir):
    cfg = VadConfig(scorer="silero")
    for name in ("noise_1000ms", "silence_1000ms"):
        clip = load_audio(eval_dir / f"audio/speech_commands_tflm/{name}.wav").samples
        stream, _, _ = make_stream(clip, None, 0.0, np.random.default_rng(1))
        assert detect_segments(stream, RATE, cfg) == [], name


def test_energy_floor_adapts_to_a_step_in_steady_noise():
    x = np.concatenate([hiss(2.0, -55), hiss(8.0, -35, 1)])
    segs = detect_segments(x, RATE, VadConfig(scorer="energy"))
    assert len(segs) <= 1
    if segs:  # the step may open one segment; the floor catches up and closes it
        assert segs[0].start_s == pytest.approx(2.0, abs=0.1)
        assert segs[0].end_s - segs[0].start_s < 2.5 and not segs[0].forced


def test_energy_scorer_ignores_frames_below_the_level_gate():
    sc = EnergyScorer(RATE, min_dbfs=-50)
    assert all(sc.score(f) == 0.0 for f in hiss(1.0, -70).reshape(-1, sc.frame_samples))
    assert sc.frame_samples == 160


def test_reference_span_of_a_padded_tone():
    x = np.concatenate([np.zeros(800), hiss(0.5, -20), np.zeros(800)]).astype(np.int16)
    start, end, level = reference_span(x)
    assert (start, end) == (pytest.approx(0.1), pytest.approx(0.6))
    assert level == pytest.approx(-20, abs=1)


def test_silero_rejects_other_rates_and_missing_models(tmp_path):
    with pytest.raises(AudioError, match="8000 or 16000"):
        SileroScorer(22050)
    with pytest.raises(ModelError, match="not found"):
        SileroScorer(8000, tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot be loaded"):
        SileroScorer(8000, bad)


@needs_silero
def test_auto_scorer_is_silero_at_line_rates_and_energy_elsewhere():
    assert isinstance(make_scorer(VadConfig(), 8000), SileroScorer)
    assert isinstance(make_scorer(VadConfig(), 16000), SileroScorer)
    assert isinstance(make_scorer(VadConfig(), 22050), EnergyScorer)
    assert make_scorer(VadConfig(), 8000).frame_samples == 256  # 32 ms


@needs_silero
def test_a_quiet_answer_after_an_earlier_utterance_is_heard_from_its_first_digit():
    """Silero's LSTM state is cleared after each segment: carried on through the call, the
    state left by the first utterance made the first "zero" of this PIN score 0.03-0.2 and
    the segment start 0.75 s late (the replay case keypad_account_spoken_pin)."""
    from voicebot.replay.cases import fsdd_digits

    question = load_audio(Path(__file__).parent / "audio/keypad_account_spoken_pin/01.wav")
    pin = fsdd_digits("0007", "yweweler", RATE)
    gap = np.zeros(int(6.7 * RATE), dtype=np.int16)
    lead = np.zeros(int(1.0 * RATE), dtype=np.int16)
    stream = np.concatenate([lead, question.samples, gap, pin, lead])
    config = section_to(VadConfig, load_settings(), "vad")
    ended = detect_segments(stream, RATE, config, make_scorer(config, RATE))
    assert len(ended) == 2
    pin_start = (lead.size + question.samples.size + gap.size) / RATE
    first_voiced = pin_start + reference_span(pin)[0]
    assert abs(ended[1].start_s - first_voiced) < 0.1, (ended[1].start_s, first_voiced)
