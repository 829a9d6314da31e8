"""Everything one process needs to run calls, loaded once and shared by its calls.

:class:`Pipeline` holds the loaded models (dialog agent, ASR engine, TTS voice) and the
settings of each stage, and makes a fresh :class:`~voicebot.session.CallSession` (with its
own VAD and turn state) for every call. Loading is blocking (about 30 s, mostly Rasa): do it
before taking calls, never on a call's path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from voicebot.audio.vad import SpeechDetector, VadConfig
from voicebot.audio.wavio import AudioConfig
from voicebot.config import Settings, load_settings, section_to
from voicebot.dialog.bridge import DialogBridge
from voicebot.line import Line
from voicebot.session import CallSession, Recognizer, SessionConfig, Speaker
from voicebot.turns import TurnConfig, TurnTaker

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    settings: Settings
    bridge: DialogBridge
    recognizer: Recognizer
    speaker: Speaker
    vad: VadConfig
    turns: TurnConfig
    session_cfg: SessionConfig
    rate: int
    departments: Any = None

    @classmethod
    def load(
        cls,
        settings: Settings | None = None,
        *,
        action_endpoint: str | None = None,
        model: Any = None,
    ) -> Pipeline:
        """Load the dialog model, the ASR engine and the TTS voice (blocking)."""
        from voicebot.departments import load_departments
        from voicebot.dialog.model import latest_model, load_agent
        from voicebot.dialog.settings import dialog_config
        from voicebot.speech import load_recognizer, load_speaker

        settings = settings or load_settings()
        dcfg = dialog_config(settings)
        audio = section_to(AudioConfig, settings, "audio")
        rate = audio.line_rate
        recognizer = load_recognizer(settings, rate)
        speaker = load_speaker(settings, rate)
        agent = load_agent(
            model or latest_model(dcfg.models_path()), action_endpoint or dcfg.action_endpoint
        )
        return cls(
            settings=settings,
            bridge=DialogBridge(agent),
            recognizer=recognizer,
            speaker=speaker,
            vad=section_to(VadConfig, settings, "vad"),
            turns=section_to(TurnConfig, settings, "turns"),
            session_cfg=section_to(SessionConfig, settings, "session"),
            rate=rate,
            departments=load_departments(),
        )

    def session(self, line: Line) -> CallSession:
        """A new call session on ``line`` (fresh VAD and turn state, shared models)."""
        return CallSession(
            line,
            self.bridge,
            self.recognizer,
            self.speaker,
            SpeechDetector(self.vad, self.rate),
            TurnTaker(self.turns),
            self.session_cfg,
            self.departments,
        )
