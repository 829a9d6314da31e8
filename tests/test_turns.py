"""The turn-taking state machine driven by scripted timelines on a virtual clock."""

from __future__ import annotations

import random

import pytest
from _audio_timeline import run_timeline

from voicebot.config import load_settings, section_to
from voicebot.errors import ConfigError
from voicebot.events import (
    BargeIn,
    DtmfDigit,
    ExpectInput,
    NoInput,
    PlaybackFinished,
    PlaybackStarted,
    SpeechEnded,
    SpeechPaused,
    SpeechStarted,
    Tick,
    Transcript,
    UserTurn,
)
from voicebot.turns import TurnConfig, TurnTaker


def speech(start: float, end: float, text: str, conf: float = 0.9, asr_delay: float = 0.3):
    """A caller utterance as the segmenter and ASR report it (start seen after 100 ms, end after
    250 ms of silence, final transcript ``asr_delay`` s later)."""
    return [
        SpeechStarted(time_s=start + 0.1, start_s=start, audio_start_s=start - 0.2),
        Transcript(time_s=start + 0.3, text=text.split()[0], confidence=0.5, final=False),
        SpeechEnded(time_s=end + 0.25, start_s=start, end_s=end),
        Transcript(time_s=end + 0.25 + asr_delay, text=text, confidence=conf, final=True),
    ]


def prompt(start: float, end: float, interruptible: bool = True):
    return [
        PlaybackStarted(time_s=start, interruptible=interruptible),
        PlaybackFinished(time_s=end),
    ]


def kinds(outputs):
    return [type(o).__name__ for o in outputs]


def make(**kw) -> TurnTaker:
    return TurnTaker(TurnConfig(**kw))


def test_defaults_come_from_the_turns_section():
    cfg = section_to(TurnConfig, load_settings(), "turns")
    assert cfg.barge_in and cfg.dtmf_terminator == "#"
    assert cfg.barge_in_min_ms == 500 and cfg.no_input_ms == 6000


def test_speech_turn_is_emitted_when_the_final_transcript_arrives():
    out = run_timeline(make(), speech(1.0, 2.0, "pay my bill", conf=0.8), until_s=10)
    assert out == [
        UserTurn(
            time_s=pytest.approx(2.55),
            text="pay my bill",
            confidence=0.8,
            source="speech",
            start_s=1.0,
            end_s=2.0,
        )
    ]


def test_short_noise_during_playback_does_not_barge_in_and_makes_no_turn():
    # a 150 ms cough while the bot speaks: segment is open 1.1..1.4 s (< 500 ms)
    script = [
        *prompt(0.0, 4.0),
        SpeechStarted(time_s=1.1, start_s=1.0, audio_start_s=0.8),
        SpeechEnded(time_s=1.4, start_s=1.0, end_s=1.15),
        Transcript(time_s=1.6, text="uh", confidence=0.3, final=True),
    ]
    taker = make()
    out = run_timeline(taker, script, until_s=5.0)
    assert out == []
    assert not taker.caller_speaking


def test_long_speech_during_playback_barges_in_once_then_becomes_the_turn():
    script = [
        PlaybackStarted(time_s=0.0),
        *speech(1.0, 2.5, "agent please"),
        PlaybackFinished(time_s=1.55, interrupted=True),  # playout stopped after the barge-in
    ]
    out = run_timeline(make(), script, until_s=10)
    assert kinds(out) == ["BargeIn", "UserTurn"]
    barge, turn = out
    assert barge == BargeIn(time_s=pytest.approx(1.5), start_s=1.0, source="speech")
    assert turn.text == "agent please" and turn.source == "speech"


def test_barge_in_minimum_is_configurable_and_can_be_switched_off():
    script = [PlaybackStarted(time_s=0.0), *speech(1.0, 1.4, "yes"), PlaybackFinished(time_s=5)]
    # 0.4 s of speech + 0.25 s of endpoint silence: open 0.65 s from its start
    assert kinds(run_timeline(make(barge_in_min_ms=300), script, until_s=6))[0] == "BargeIn"
    # 900 ms minimum: the segment ends during playback and is dropped
    assert run_timeline(make(barge_in_min_ms=900), script, until_s=6) == []
    assert run_timeline(make(barge_in=False), script, until_s=6) == []


def test_caller_still_talking_when_the_bot_starts_barges_in_at_once():
    script = [
        SpeechStarted(time_s=1.1, start_s=1.0, audio_start_s=0.8),
        PlaybackStarted(time_s=1.8),
        SpeechEnded(time_s=3.25, start_s=1.0, end_s=3.0),
        Transcript(time_s=3.5, text="and also my address changed", final=True),
    ]
    out = run_timeline(make(), script, until_s=6)
    assert out[0] == BargeIn(time_s=1.8, start_s=1.0, source="speech")
    assert kinds(out) == ["BargeIn", "UserTurn"]


def test_fixed_prompt_is_not_interruptible():
    script = [*prompt(0.0, 5.0, interruptible=False), *speech(1.0, 3.0, "hello there")]
    assert run_timeline(make(), script, until_s=6) == []


def test_speech_that_starts_just_before_the_prompt_ends_is_kept():
    script = [*prompt(0.0, 2.2), *speech(2.0, 3.0, "billing")]
    out = run_timeline(make(), script, until_s=5)
    assert kinds(out) == ["UserTurn"] and out[0].text == "billing"


def test_no_input_after_the_bot_finished_then_reprompt_then_escalate():
    taker = make(no_input_ms=5000)
    script = [*prompt(0.0, 2.0), *prompt(7.5, 9.0)]  # the dialog reprompts after NoInput
    out = run_timeline(taker, script, until_s=20)
    assert out == [
        NoInput(time_s=7.0, waited_s=5.0, count=1),
        NoInput(time_s=14.0, waited_s=5.0, count=2),
    ]
    # nothing more until the bot speaks again
    assert taker.next_deadline() is None


def test_no_input_does_not_fire_while_the_caller_speaks_and_count_resets():
    taker = make(no_input_ms=3000)
    out = run_timeline(taker, [*prompt(0.0, 1.0)], until_s=4.5)
    assert kinds(out) == ["NoInput"] and taker.no_input_count == 1
    script = [*prompt(5.0, 6.0), *speech(8.5, 11.0, "I want to move house")]
    out = run_timeline(taker, script, until_s=12.0)
    assert kinds(out) == ["UserTurn"]
    assert taker.no_input_count == 0


def test_noise_after_the_prompt_restarts_the_no_input_wait():
    taker = make(no_input_ms=4000)
    script = [
        *prompt(0.0, 1.0),
        SpeechStarted(time_s=2.1, start_s=2.0, audio_start_s=1.8),
        SpeechEnded(time_s=2.5, start_s=2.0, end_s=2.2),
        Transcript(time_s=2.7, text="", confidence=0.0, final=True),
    ]
    out = run_timeline(taker, script, until_s=10)
    assert out == [NoInput(time_s=pytest.approx(6.7), waited_s=pytest.approx(4.0), count=1)]


def test_dtmf_digits_end_with_the_terminator():
    script = [DtmfDigit(time_s=1.0 + 0.4 * i, digit=d) for i, d in enumerate("1234#")]
    out = run_timeline(make(), script, until_s=10)
    assert out == [
        UserTurn(
            time_s=2.6,
            text="1234",
            confidence=1.0,
            source="dtmf",
            start_s=1.0,
            end_s=2.6,
            digits="1234",
        )
    ]


def test_dtmf_digits_end_after_the_inter_digit_timeout():
    script = [DtmfDigit(time_s=1.0, digit="4"), DtmfDigit(time_s=1.5, digit="2")]
    out = run_timeline(make(dtmf_inter_digit_ms=2000), script, until_s=10)
    assert len(out) == 1 and out[0].digits == "42"
    assert out[0].time_s == pytest.approx(3.5)  # last key + 2 s, not the late Tick at 10 s


def test_a_flood_of_keys_makes_one_bounded_turn():
    from voicebot.turns import MAX_KEYS_PER_TURN

    script = [DtmfDigit(time_s=1.0 + 0.001 * i, digit="7") for i in range(5000)]
    script.append(DtmfDigit(time_s=7.0, digit="#"))
    out = run_timeline(make(), script, until_s=10)
    assert len(out) == 1 and out[0].digits == "7" * MAX_KEYS_PER_TURN


def test_dtmf_expected_length_from_the_dialog_completes_at_once():
    script = [
        ExpectInput(time_s=0.0, expect="digits", max_digits=3),
        *[DtmfDigit(time_s=1.0 + 0.3 * i, digit=d) for i, d in enumerate("98765")],
    ]
    out = run_timeline(make(), script, until_s=10)
    assert [(o.text, o.time_s, o.expect) for o in out] == [
        ("987", pytest.approx(1.6), "digits"),
        ("65", pytest.approx(5.2), "digits"),  # the rest: a new turn, after the timeout
    ]


def test_lone_terminator_is_a_turn():
    out = run_timeline(make(), [DtmfDigit(time_s=1.0, digit="#")], until_s=5)
    assert [(o.text, o.digits, o.source) for o in out] == [("#", "", "dtmf")]


def test_key_during_playback_barges_in_at_once():
    script = [
        PlaybackStarted(time_s=0.0),
        DtmfDigit(time_s=0.7, digit="2"),
        DtmfDigit(time_s=0.9, digit="#"),
    ]
    out = run_timeline(make(), script, until_s=5)
    assert out[0] == BargeIn(time_s=0.7, start_s=0.7, source="dtmf")
    assert kinds(out) == ["BargeIn", "UserTurn"] and out[1].digits == "2"


def test_speech_then_digits_are_two_turns():
    script = [
        *speech(1.0, 2.0, "my account number is"),
        *[DtmfDigit(time_s=4.0 + 0.3 * i, digit=d) for i, d in enumerate("5566#")],
    ]
    out = run_timeline(make(), script, until_s=10)
    assert [(o.source, o.text) for o in out] == [
        ("speech", "my account number is"),
        ("dtmf", "5566"),
    ]


def test_digits_while_speaking_make_one_mixed_turn():
    script = [
        *speech(1.0, 3.0, "it is", conf=0.7),
        DtmfDigit(time_s=2.0, digit="7"),
        DtmfDigit(time_s=2.5, digit="1"),
        DtmfDigit(time_s=3.6, digit="#"),
    ]
    out = run_timeline(make(), script, until_s=10)
    assert out == [
        UserTurn(
            time_s=3.6,
            text="it is 71",
            confidence=0.7,
            source="mixed",
            start_s=1.0,
            end_s=3.6,
            digits="71",
        )
    ]


def test_split_utterance_waits_for_both_finals():
    # the caller pauses 0.4 s mid-sentence: two segments, the second starts before the
    # first segment's final arrives; one turn with both parts
    script = [
        *speech(1.0, 2.0, "I would like", asr_delay=0.5),
        *speech(2.4, 3.5, "to pay my bill"),
    ]
    out = run_timeline(make(), script, until_s=10)
    assert [o.text for o in out] == ["I would like to pay my bill"]


def test_missing_final_falls_back_to_the_partial_after_the_timeout():
    script = [
        SpeechStarted(time_s=1.1, start_s=1.0, audio_start_s=0.8),
        Transcript(time_s=1.5, text="cancel my contract", confidence=0.6, final=False),
        SpeechEnded(time_s=2.25, start_s=1.0, end_s=2.0),
    ]
    out = run_timeline(make(asr_final_timeout_ms=1000), script, until_s=10)
    assert [(o.text, o.time_s) for o in out] == [("cancel my contract", pytest.approx(3.25))]


def test_transcript_without_segment_is_a_turn_for_text_chat():
    out = run_timeline(make(), [Transcript(time_s=3.0, text="hello", final=True)], until_s=5)
    assert [(o.text, o.source, o.start_s) for o in out] == [("hello", "speech", 3.0)]


def test_pause_hints_change_nothing():
    script = [
        *speech(1.0, 2.0, "hello"),
        SpeechPaused(time_s=1.7, start_s=1.0, end_s=1.6),
        SpeechPaused(time_s=2.1, start_s=1.0, end_s=2.0),
    ]
    out = run_timeline(make(), script, until_s=5)
    assert [(o.text, o.end_s) for o in out] == [("hello", 2.0)]


def test_late_tick_fires_timers_at_their_own_time():
    taker = make(no_input_ms=2000)
    taker.handle(PlaybackFinished(time_s=1.0))
    assert taker.next_deadline() == pytest.approx(3.0)
    out = taker.handle(Tick(time_s=60.0))
    assert out == [NoInput(time_s=3.0, waited_s=2.0, count=1)]


@pytest.mark.parametrize(
    "bad",
    [
        {"barge_in_min_ms": 0},
        {"dtmf_terminator": "##"},
        {"dtmf_terminator": "x"},
        {"dtmf_max_digits": -1},
    ],
)
def test_bad_settings_are_config_errors(bad):
    with pytest.raises(ConfigError):
        TurnConfig(**bad)


def test_late_final_of_a_dropped_noise_does_not_become_a_turn():
    taker = make(no_input_ms=3000)
    script = [
        *prompt(0.0, 2.0),
        SpeechStarted(time_s=1.1, start_s=1.0, audio_start_s=0.8),
        SpeechEnded(time_s=1.45, start_s=1.0, end_s=1.2),
        Transcript(time_s=2.4, text="hm", confidence=0.2, final=True),  # after the prompt
    ]
    out = run_timeline(taker, script, until_s=6)
    assert out == [NoInput(time_s=5.0, waited_s=3.0, count=1)]


def test_random_timelines_never_get_stuck_and_keep_time_order():
    rng = random.Random(42)
    for _ in range(200):
        taker = make(no_input_ms=2000, dtmf_inter_digit_ms=1000, asr_final_timeout_ms=800)
        t, script, speaking = 0.0, [], False
        for _ in range(25):
            t += rng.uniform(0.05, 1.5)
            choice = rng.choice(["speech", "text", "key", "play", "stop", "expect"])
            if choice == "speech":
                if speaking:
                    script.append(SpeechEnded(time_s=t, start_s=t - 0.5, end_s=t - 0.2))
                else:
                    script.append(SpeechStarted(time_s=t, start_s=t - 0.1, audio_start_s=t - 0.3))
                speaking = not speaking
            elif choice == "text":
                script.append(
                    Transcript(
                        time_s=t, text=rng.choice(["", "yes", "no"]), final=rng.random() < 0.7
                    )
                )
            elif choice == "key":
                script.append(DtmfDigit(time_s=t, digit=rng.choice("0123456789*#")))
            elif choice == "play":
                script.append(PlaybackStarted(time_s=t, interruptible=rng.random() < 0.8))
            elif choice == "stop":
                script.append(PlaybackFinished(time_s=t))
            else:
                script.append(
                    ExpectInput(time_s=t, expect="digits", max_digits=rng.choice([None, 4]))
                )
        out = run_timeline(taker, script, until_s=t + 30)
        times = [o.time_s for o in out]
        assert times == sorted(times)
        for o in out:
            if isinstance(o, UserTurn):
                assert o.text and o.start_s <= o.end_s <= o.time_s + 1e-9
        # once everything has settled, only an armed no-input wait may remain
        assert not taker.caller_speaking or speaking
