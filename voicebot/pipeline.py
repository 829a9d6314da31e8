"""Everything one process needs to run calls, loaded once and shared by its calls.

:class:`Pipeline` holds the loaded models (dialog agent, ASR engine, TTS voice) and the
settings of each stage, and makes a fresh :class:`~voicebot.session.CallSession` (with its
own VAD and turn state) for every call. Loading is blocking (about 30 s, mostly Rasa): do it
before taking calls, never on a call's path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

from voicebot.audio.vad import SpeechDetector, VadConfig
from voicebot.audio.wavio import AudioConfig
from voicebot.config import Settings, load_settings, section_to
from voicebot.dialog.bridge import DialogBridge
from voicebot.fallback import FallbackPrompts
from voicebot.line import Line
from voicebot.services.settings import services_config
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
    fallback: FallbackPrompts | None = None
    """The failure path's prompts, synthesized by :meth:`warm` (they play when TTS fails)."""
    recorder: Any = None
    """The :class:`~voicebot.records.recorder.CallRecorder` every call reports to, or None."""

    @classmethod
    def load(
        cls,
        settings: Settings | None = None,
        *,
        action_endpoint: str | None = None,
        model: Any = None,
        agent: Any = None,
    ) -> Pipeline:
        """Load the dialog model, the ASR engine and the TTS voice (blocking).

        ``agent``: an already loaded Rasa agent to share (tests); else ``model`` (a path) or
        the newest trained model is loaded with its actions at ``action_endpoint``.
        """
        from voicebot.asr import load_engine
        from voicebot.departments import load_departments
        from voicebot.dialog.model import latest_model, load_agent
        from voicebot.dialog.settings import dialog_config
        from voicebot.errors import ConfigError
        from voicebot.records.recorder import open_recorder
        from voicebot.tts import load_speaker

        settings = settings or load_settings()
        dcfg = dialog_config(settings)
        rate = section_to(AudioConfig, settings, "audio").line_rate
        speaker = load_speaker(settings)
        if speaker.sample_rate != rate:
            raise ConfigError(
                f"tts.sample_rate {speaker.sample_rate} Hz differs from audio.line_rate {rate} Hz"
            )
        recognizer = load_engine(settings)
        if agent is None:
            agent = load_agent(
                model or latest_model(dcfg.models_path()), action_endpoint or dcfg.action_endpoint
            )
        pipeline = cls(
            settings=settings,
            bridge=DialogBridge(agent),
            recognizer=recognizer,
            speaker=speaker,
            vad=section_to(VadConfig, settings, "vad"),
            turns=section_to(TurnConfig, settings, "turns"),
            session_cfg=section_to(SessionConfig, settings, "session"),
            rate=rate,
            departments=load_departments(),
            recorder=open_recorder(settings),
        )
        pipeline.warm()
        return pipeline

    @classmethod
    def connect(cls, settings: Settings | None = None) -> Pipeline:
        """A thin pipeline for a call worker: the host's speech and dialog services instead
        of loaded models (seconds, tens of MB); waits up to ``services.reconnect_s`` for
        them. Per-call VAD and turn-taking still run here."""
        from voicebot.departments import load_departments
        from voicebot.records.recorder import open_recorder
        from voicebot.services.client import ServiceClient, wait_healthy
        from voicebot.services.dialog_client import RemoteDialog
        from voicebot.services.speech_client import RemoteRecognizer, RemoteSpeaker
        from voicebot.tts.config import tts_config

        settings = settings or load_settings()
        svc = services_config(settings)
        rate = section_to(AudioConfig, settings, "audio").line_rate
        speech = ServiceClient(
            svc.speech(), reconnect_s=svc.reconnect_s, timeout_s=svc.request_timeout_s
        )
        # at the host's start-up the worker starts while the speech service loads its models
        wait_healthy(svc.speech(), max(svc.reconnect_s, svc.start_timeout_s), "speech service")
        local, *peers = svc.dialogs()  # this host's dialog service, then the other hosts'
        dialog = RemoteDialog(
            local, peers=peers, reconnect_s=svc.reconnect_s, timeout_s=svc.request_timeout_s
        )
        speaker = RemoteSpeaker(speech, tts_config(settings).sample_rate)
        # the apology and hand-off prompts, synthesized now and kept here: they still play
        # when the speech service fails mid-call (voicebot.fallback)
        fallback = FallbackPrompts(rate, speaker)
        fallback.prepare()
        return cls(
            settings=settings,
            bridge=cast(DialogBridge, dialog),  # the same surface (start/handle/conversation)
            recognizer=RemoteRecognizer(speech),
            speaker=speaker,
            vad=section_to(VadConfig, settings, "vad"),
            turns=section_to(TurnConfig, settings, "turns"),
            session_cfg=section_to(SessionConfig, settings, "session"),
            rate=rate,
            departments=load_departments(),
            fallback=fallback,
            recorder=open_recorder(settings),
        )

    def warm(self) -> None:
        """Synthesize the dialog's fixed prompts into the TTS cache and run one ASR decode,
        so the first caller does not pay for first-use set-up (seconds)."""
        import numpy as np

        prompts: list[str] = []
        domain = getattr(self.bridge.agent, "domain", None)
        for variants in (getattr(domain, "responses", None) or {}).values():
            for variant in variants:
                text = variant.get("text") if isinstance(variant, dict) else None
                if text and "{" not in text:
                    prompts.append(text)
        started = time.perf_counter()
        made = self.speaker.warm(prompts)
        self.fallback = FallbackPrompts(self.rate, self.speaker)
        made += self.fallback.prepare()
        stream = self.recognizer.open_stream("free", sample_rate=self.rate)
        noise = np.random.default_rng(0).normal(0, 2000, self.rate).astype(np.int16)
        stream.accept(noise)
        stream.finish()
        asyncio.run(self._warm_dialog())
        log.info("warmed %d prompts in %.1f s", made, time.perf_counter() - started)

    async def _warm_dialog(self) -> None:
        """One throw-away turn through the dialog (the first prediction is slow)."""
        call_id = "warm-up"
        try:
            await self.bridge.start(call_id)
            await self.bridge.handle(call_id, "hello")
        except Exception as exc:  # noqa: BLE001 - warming is best effort; calls report errors
            log.warning("dialog warm-up failed: %s", exc)
        finally:
            self.bridge.forget(call_id)

    def session(self, line: Line) -> CallSession:
        """A new call session on ``line`` (fresh VAD and turn state, shared models)."""
        if self.recorder is not None:
            line = self.recorder.wrap_line(line)  # stereo recording when records.recording
        return CallSession(
            line,
            self.bridge,
            self.recognizer,
            self.speaker,
            SpeechDetector(self.vad, self.rate),
            TurnTaker(self.turns),
            self.session_cfg,
            self.departments,
            fallback=self.fallback,
            recorder=self.recorder,
        )
