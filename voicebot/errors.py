"""One exception tree for voicebot, each error with a stable code.

    VoicebotError (code)
    ├── ConfigError            config-invalid       a config file is missing, unreadable or wrong
    ├── DataError              data-invalid         training data / YAML that cannot be used
    ├── ModelError             model-missing        an ASR/TTS/Rasa model is absent or broken
    ├── AudioError             audio-invalid        audio that cannot be decoded or is empty
    ├── StoreError             store-failed         the customer/message/hand-off store failed
    ├── DialogError            dialog-failed        the Rasa dialog could not answer
    ├── TelephonyError         sip-failed           the SIP line failed
    └── StateError             state-conflict       not allowed in the current state (a
                                                    paused campaign started)

Raise them ``from`` their cause; the CLI prints ``error[code]: message`` and exits 2,
a running call logs the code and goes on (or hands the caller to a human), never crashes
the service.
"""

from __future__ import annotations


class VoicebotError(Exception):
    """Base of every error voicebot raises on purpose."""

    code = "voicebot-error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(VoicebotError):
    code = "config-invalid"


class DataError(VoicebotError):
    code = "data-invalid"


class ModelError(VoicebotError):
    code = "model-missing"


class AudioError(VoicebotError):
    code = "audio-invalid"


class StoreError(VoicebotError):
    code = "store-failed"


class DialogError(VoicebotError):
    code = "dialog-failed"


class TelephonyError(VoicebotError):
    code = "sip-failed"


class StateError(VoicebotError):
    code = "state-conflict"
