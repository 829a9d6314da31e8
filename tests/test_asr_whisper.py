"""Whisper tiny.en (the default engine) on real 8 kHz speech from ../shared/eval/audio."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicebot.asr import AsrEngine, asr_config, create_engine
from voicebot.asr.audio import resample_float
from voicebot.asr.whisper import WhisperEngine
from voicebot.config import load_settings
from voicebot.errors import AudioError, ConfigError
from voicebot.events import ExpectedInput

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine() -> AsrEngine:
    cfg = asr_config(load_settings())
    assert cfg.engine == "whisper"  # the out-of-the-box default
    return create_engine(cfg)


def pcm8k(path: Path) -> np.ndarray:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    x = resample_float(data[:, 0], rate, 8000)
    return np.clip(x * 32768, -32768, 32767).astype(np.int16)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def test_ivr_prompt_is_transcribed(engine: AsrEngine, eval_dir: Path) -> None:
    audio = pcm8k(eval_dir / "audio/asterisk_core_sounds_en/wav/agent-pass.wav")
    t = engine.transcribe(audio, "free")
    assert words(t.text) == "please enter your password followed by the pound key".split()
    assert 0.5 < t.confidence <= 1.0
    assert len(t.words) == 9 and all(0.0 < w.confidence <= 1.0 for w in t.words)
    assert t.duration == pytest.approx(3.285, abs=0.01) and t.engine == "whisper"


def test_streaming_in_20ms_frames_gives_the_same_result(engine: AsrEngine, eval_dir: Path) -> None:
    audio = pcm8k(eval_dir / "audio/asterisk_core_sounds_en/wav/conf-getpin.wav")
    stream = engine.open_stream("free")
    partials = [stream.accept(audio[i : i + 160]) for i in range(0, audio.size, 160)]
    assert all(p is None for p in partials)  # whisper_partial_s = 0: no partial decodes
    assert words(stream.finish().text) == "please enter the conference pin number".split()


def fsdd(eval_dir: Path, digit: int, speaker: str, take: int) -> np.ndarray:
    return pcm8k(eval_dir / f"audio/fsdd/recordings/{digit}_{speaker}_{take}.wav")


@pytest.mark.parametrize(("speaker", "account"), [("jackson", "40712395"), ("nicolas", "18835304")])
def test_account_number_of_real_spoken_digits(
    engine: AsrEngine, eval_dir: Path, speaker: str, account: str
) -> None:
    pause = np.zeros(int(0.3 * 8000), dtype=np.int16)
    parts: list[np.ndarray] = []
    for i, d in enumerate(account):
        parts += [fsdd(eval_dir, int(d), speaker, 7 + i), pause]
    t = engine.transcribe(np.concatenate(parts), "digits")
    assert t.text == account
    assert [w.text for w in t.words] == list(account)  # one Word per digit
    assert 0.3 < t.confidence <= 1.0 and t.expect == "digits"


def test_digits_mode_normalizes_single_digits(engine: AsrEngine, eval_dir: Path) -> None:
    heard = [engine.transcribe(fsdd(eval_dir, d, "yweweler", 3), "digits").text for d in range(10)]
    assert all(h.isdigit() or h == "" for h in heard)
    assert sum(h == str(d) for d, h in enumerate(heard)) >= 9


def test_free_mode_keeps_words(engine: AsrEngine, eval_dir: Path) -> None:
    t = engine.transcribe(fsdd(eval_dir, 7, "jackson", 3), "free")
    assert not t.text.isdigit() or t.text == "7"  # free mode: Whisper's own text, not forced


def test_yes_no_mode(engine: AsrEngine, eval_dir: Path) -> None:
    yes = engine.transcribe(pcm8k(eval_dir / "audio/speech_commands_tflm/yes_1000ms.wav"), "yes_no")
    no = engine.transcribe(pcm8k(eval_dir / "audio/speech_commands_tflm/no_1000ms.wav"), "yes_no")
    assert (yes.text, no.text) == ("yes", "no")


def test_silence_and_noise_give_an_empty_transcript(engine: AsrEngine, eval_dir: Path) -> None:
    silent = engine.transcribe(np.zeros(16000, dtype=np.int16))
    assert silent.empty and silent.confidence == 0.0 and silent.decode_s < 0.05
    noise = engine.transcribe(pcm8k(eval_dir / "audio/speech_commands_tflm/silence_1000ms.wav"))
    assert noise.text == "" or noise.confidence < 0.5


def test_bad_input_is_an_audio_or_config_error(engine: AsrEngine) -> None:
    with pytest.raises(AudioError, match="int16"):
        engine.transcribe(np.zeros(800, dtype=np.float32))
    with pytest.raises(AudioError, match="mono"):
        engine.transcribe(np.zeros((800, 2), dtype=np.int16))
    with pytest.raises(ConfigError, match="unknown expected input"):
        engine.open_stream("postcode")  # type: ignore[arg-type]


def test_other_input_rates_are_resampled(engine: AsrEngine, eval_dir: Path) -> None:
    data, rate = sf.read(eval_dir / "audio/pocketsphinx/test/data/goforward_16k.wav", dtype="int16")
    assert rate == 16000
    t = engine.transcribe(data, "free", sample_rate=16000)
    assert {"go", "forward", "meters"} <= set(words(t.text))


def test_partials_when_enabled(
    engine: AsrEngine, eval_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    monkeypatch.setattr(engine, "cfg", replace(engine.cfg, whisper_partial_s=1.0))  # type: ignore[attr-defined]
    audio = pcm8k(eval_dir / "audio/asterisk_core_sounds_en/wav/agent-pass.wav")  # 3.3 s
    stream = engine.open_stream("free")
    partials = [p for i in range(0, audio.size, 1600) if (p := stream.accept(audio[i : i + 1600]))]
    assert len(partials) == 3  # after 1, 2 and 3 s of audio
    assert words(partials[0])[:1] == ["please"]
    assert words(stream.finish().text)[-2:] == ["pound", "key"]


# ------------------------------------------------------------------ the asked length


def test_a_pin_that_runs_on_is_cut_to_the_asked_length(engine: AsrEngine) -> None:
    from voicebot.numbers import spoken_digits
    from voicebot.replay.cases import fsdd_digits

    pin = fsdd_digits("1234", "nicolas", 8000)  # a real speaker (Whisper tiny runs on)
    told = engine.transcribe(pin, "free", length=4)  # the PIN question: free, 4 digits asked
    assert spoken_digits(told.text) == "1234"
    # the cut itself on a controlled input that runs on for any model: six digits said
    longer = fsdd_digits("123456", "nicolas", 8000)
    assert spoken_digits(engine.transcribe(longer, "digits").text) == "123456"
    assert spoken_digits(engine.transcribe(longer, "digits", length=4).text) == "1234"


def test_dropped_last_digits_come_back_from_the_pause_separated_groups(engine: AsrEngine) -> None:
    from voicebot.asr.audio import WHISPER_RATE, to_float
    from voicebot.numbers import spoken_digits
    from voicebot.replay.cases import fsdd_digits

    pin = fsdd_digits("9057", "nicolas", 8000)  # one decode of tiny.en drops "057"
    told = engine.transcribe(pin, "digits", length=4)
    assert told.text == "9057" and [w.text for w in told.words] == list("9057")
    # the pause-separated groups on their own, whatever the one-piece decode heard
    assert isinstance(engine, WhisperEngine)
    groups = engine._digit_groups(resample_float(to_float(pin), 8000, WHISPER_RATE), 4)
    assert groups is not None and spoken_digits(groups[0]) == "9057"


def test_a_doubtful_single_digit_is_decided_by_time_shifted_views(
    engine: AsrEngine, eval_dir: Path
) -> None:
    import dataclasses

    from voicebot.asr.audio import WHISPER_RATE, to_float

    seven = fsdd(eval_dir, 7, "jackson", 44)  # tiny.en's one view hears "5" here
    assert isinstance(engine, WhisperEngine)
    assert engine.transcribe(seven, "digits", length=1).text == "7"
    # the averaging on a controlled first view that knows nothing (every digit 0.1): the
    # time-shifted views alone decide, and the result is the mean over all the views
    audio = resample_float(to_float(seven), 8000, WHISPER_RATE)
    blank = {d: 0.1 for d in "0123456789"}
    views = 1 + len(engine.cfg.whisper_digit_recheck_leads_s)
    averaged = engine._recheck_digit(audio, blank)
    assert max(averaged, key=lambda d: averaged[d]) == "7"
    assert all(0.1 / views <= p <= (0.1 + views - 1) / views for p in averaged.values())
    one_view = WhisperEngine(dataclasses.replace(engine.cfg, whisper_digit_recheck_leads_s=()))
    assert one_view._recheck_digit(audio, blank) == blank  # no lead-ins: no re-check
    four = fsdd(eval_dir, 4, "jackson", 3)  # a sure digit: one view, the same answer
    sure = engine.transcribe(four, "digits", length=1)
    assert sure.text == "4"
    assert sure.confidence == one_view.transcribe(four, "digits", length=1).confidence


def test_a_pin_heard_with_stray_words_is_decoded_again_as_digits(engine: AsrEngine) -> None:
    from voicebot.asr.audio import WHISPER_RATE, to_float
    from voicebot.numbers import spoken_digits
    from voicebot.replay.cases import fsdd_digits

    pin = fsdd_digits("8304", "jackson", 8000)  # tiny.en's free decode: "830 far."
    told = engine.transcribe(pin, "free", length=4)  # the PIN question
    assert spoken_digits(told.text) == "8304"
    # the second decode on controlled free texts: nearly all digits -> decoded as digits;
    # words -> kept as they are
    assert isinstance(engine, WhisperEngine)
    audio = resample_float(to_float(pin), 8000, WHISPER_RATE)
    again = engine._digit_answer(audio, "830 far.", 4)
    assert again is not None and spoken_digits(again[0]) == "8304"
    assert engine._digit_answer(audio, "I don't know it.", 4) is None


def test_words_on_the_pin_question_stay_words(engine: AsrEngine, tmp_path: Path) -> None:
    import subprocess

    wav = tmp_path / "words.wav"  # one digit word among more other words: not a PIN
    text = "hold on one second please"
    subprocess.run(["flite", "-voice", "rms", "-t", text, "-o", str(wav)], check=True)
    told = engine.transcribe(pcm8k(wav), "free", length=4)
    assert "hold" in told.text.lower() and "second" in told.text.lower()


def test_a_date_of_birth_is_not_taken_for_digits_when_a_pin_is_asked(
    engine: AsrEngine, tmp_path: Path
) -> None:
    import subprocess

    from voicebot.numbers import parse_date_of_birth

    wav = tmp_path / "dob.wav"  # another speaker: flite's slt voice
    text = "the fourth of July, nineteen eighty five"
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(wav)], check=True)
    told = engine.transcribe(pcm8k(wav), "free", length=4)
    assert "july" in told.text.lower()
    assert str(parse_date_of_birth(told.text)) == "1985-07-04"


def test_a_date_heard_as_neither_number_nor_date_is_decoded_again_with_dates_as_context(
    engine: AsrEngine, tmp_path: Path
) -> None:
    import subprocess

    from voicebot.numbers import parse_date_of_birth

    wav = tmp_path / "dob.wav"  # another speaker: espeak-ng's British RP voice
    subprocess.run(
        ["espeak-ng", "-v", "en-gb-x-rp", "-w", str(wav), "twelfth of march nineteen eighty"],
        check=True,
    )
    # tiny.en with the domain prompt alone hears "Well, so much, I did."
    told = engine.transcribe(pcm8k(wav), "free", length=4)  # the PIN-or-date question
    assert str(parse_date_of_birth(told.text)) == "1980-03-12"
    assert isinstance(engine, WhisperEngine)  # the date-context decode on its own
    dated, _, _ = engine.decode(
        resample_float(pcm8k(wav) / 32768.0, 8000, 16000), "free", prompt="date"
    )
    assert str(parse_date_of_birth(dated)) == "1980-03-12"


def test_pause_spans_split_speech_at_pauses_only() -> None:
    from voicebot.asr.audio import pause_spans

    rate = 16000
    tone = (0.3 * np.sin(np.arange(int(0.3 * rate)) * 0.2)).astype(np.float32)
    gap = np.zeros(int(0.25 * rate), np.float32)
    short = np.zeros(int(0.04 * rate), np.float32)
    audio = np.concatenate([gap, tone, gap, tone, short, tone, gap])
    spans = pause_spans(audio, rate)
    assert len(spans) == 2  # the 40 ms gap is inside a word, not a pause
    (a0, a1), (b0, b1) = spans
    assert a0 == pytest.approx(0.2 * rate, abs=400) and a1 == pytest.approx(0.6 * rate, abs=400)
    assert b1 - b0 == pytest.approx((0.64 + 0.1) * rate, abs=400)
    assert pause_spans(np.zeros(0, np.float32)) == []


def test_a_spelled_postcode_is_heard_in_spelled_mode(engine: AsrEngine) -> None:
    from voicebot.postcodes import parse_postcode

    # espeak-ng's Scottish voice spelling "s w one a one a a" (a replay case's caller)
    # (tiny.en's free decode hears "It's not a good one,")
    audio = pcm8k(Path(__file__).parent / "audio/outage_postcode_scottish/02.wav")
    assert parse_postcode(engine.transcribe(audio, "spelled").text) == "SW1A 1AA"


@pytest.mark.parametrize("expect", ["free", "yes_no"])
def test_a_postcode_inside_a_free_sentence_is_decoded_again_as_spelled(
    engine: AsrEngine, expect: ExpectedInput
) -> None:
    """Also as the answer to a yes/no question ("Is there anything else I can help with?"):
    in yes_no mode the sentence was kept as decoded, "M11A" or "M1108"."""
    from voicebot.postcodes import parse_postcode

    # flite's rms voice: "is there an outage at postcode m one one a a" (a replay caller)
    audio = pcm8k(Path(__file__).parent / "audio/outage_postcode_inline_rms/01.wav")
    heard = engine.transcribe(audio, expect).text
    assert "outage" in heard.lower() and parse_postcode(heard) == "M1 1AA", heard


def test_a_survey_number_heard_as_no_number_is_decoded_again_as_digits(
    engine: AsrEngine, eval_dir: Path
) -> None:
    """``number`` mode (a survey's rating or score): a lone spoken digit the number-context
    decode hears as a word ("Base." for FSDD's nicolas saying "eight", a take of the
    survey bench's tuning set) comes back from the digits decode; a phrase stays words."""
    from voicebot.asr.audio import WHISPER_RATE, to_float
    from voicebot.asr.whisper_answers import numbers_in

    assert numbers_in("Two, two, 3. Ten!", {"two": "2"}) == ["2", "2", "3", "10"]
    clip = pcm8k(eval_dir / "audio" / "fsdd" / "recordings" / "8_nicolas_6.wav")
    assert isinstance(engine, WhisperEngine)
    audio = resample_float(to_float(clip), 8000, WHISPER_RATE)
    text, words = engine._number_answer(audio, "Base.", [])
    assert text == "8" and len(words) == 1
    looped, _ = engine._number_answer(audio, "Eight, nine, eight, nine", [])
    assert looped == "8"  # a loop of several numbers is decoded again too
    for phrase in ("I was very satisfied with it.", "I will fade."):  # words, not a number
        assert engine._number_answer(audio, phrase, [])[0] == phrase
    assert engine._number_answer(audio, "Seven.", [])[0] == "Seven."
    heard = engine.transcribe(clip, "number")
    assert numbers_in(heard.text, {"eight": "8"}) == ["8"]
