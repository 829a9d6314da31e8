"""The ``session`` settings section: how a call treats silence, doubts and time."""

from __future__ import annotations

from dataclasses import dataclass

from voicebot.config import Settings, section_to
from voicebot.errors import ConfigError


@dataclass(frozen=True)
class SessionConfig:
    """Settings section ``session``."""

    confirm_below: float = 0.6
    """Spoken digits (account number, PIN) heard with less ASR confidence are read back, 0..1."""
    max_no_input: int = 2
    """After this many silences in a row the caller goes to a person."""
    max_call_s: float = 900.0
    """The bot ends a call that lasts longer, s."""
    record_messages: bool = True
    """Keep the caller's audio of a message (WAV under var/recordings)."""
    reprompt: str = "Sorry, I didn't hear anything."
    """Said before repeating the last question when the caller is silent."""
    digits_end_silence_ms: float = 1000.0
    """Endpoint silence while an account number or PIN is asked for (people pause between
    digits), ms."""
    digits_early_end_ms: float = 300.0
    """While an account number or PIN is asked for: after this much silence the audio so far
    is decoded, and when it already holds every expected digit (and nothing else), or
    plainly no number ("no thanks, goodbye"), with confidence of at least ``confirm_below``,
    the turn ends without waiting for ``digits_end_silence_ms``, ms; 0 = off. Needs an
    engine with previews (Whisper)."""
    digits_incomplete_timeout_ms: float = 3000.0
    """The *incomplete* timeout: while an account number or PIN of known length is asked for
    and what was heard so far is only digits, fewer than asked (the caller reads it in
    groups and pauses), the turn stays open this long after the caller's last speech;
    the next group is joined to the digits already heard, ms; 0 = off (a pause of
    ``digits_end_silence_ms`` ends the turn with a partial number)."""
    speculative_decode_ms: float = 64.0
    """Outside digit questions: after this much silence the audio so far is decoded while
    the endpoint silence (``vad.end_silence_ms``) goes on, and the endpoint uses that
    decode when the caller said nothing more (:mod:`voicebot.speculation`), ms; 0 = off.
    The early decode hears the pause's own silence repeated for the rest of the endpoint
    silence (README "Turn latency": replay suite and third-party IVR prompts, off and on).
    Only worth it with engines that decode at the end (Whisper), not Vosk's streaming."""
    digits_held_vad_threshold: float = 0.3
    """While a number read in groups is held incomplete (the caller is mid-number), a frame
    speech score (0..1) at or above this counts towards the start of the next group's
    segment, instead of ``vad.threshold``; 0 = ``vad.threshold``."""

    def __post_init__(self) -> None:
        if self.digits_incomplete_timeout_ms < 0:
            raise ConfigError(
                "settings section 'session': digits_incomplete_timeout_ms must be >= 0"
            )
        if self.speculative_decode_ms < 0:
            raise ConfigError("settings section 'session': speculative_decode_ms must be >= 0")
        if not 0.0 <= self.digits_held_vad_threshold < 1.0:
            raise ConfigError(
                "settings section 'session': digits_held_vad_threshold must be in [0, 1)"
            )


def session_config(settings: Settings) -> SessionConfig:
    return section_to(SessionConfig, settings, "session")
