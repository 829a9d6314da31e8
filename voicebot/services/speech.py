"""The speech service: one ASR engine and one Piper voice for every call of the host.

Run by ``voicebot serve`` as ``python -m voicebot.services.speech``. Operations:

``decode``  ``{expect, rate, length, audio, preview}`` -> ``{transcript}``: the whole
            utterance so far (int16 bytes at ``rate`` Hz) through a fresh engine stream;
            ``preview`` asks for :meth:`AsrStream.preview` (may answer no transcript).
``speak``   ``{text}`` -> one frame per sentence ``{pcm}`` (int16 bytes at the line rate), as
            each is ready; the one prompt cache is shared by all calls and workers.
``health``  counters, queue and run times per operation, memory, cache size.

Decodes run in a thread pool of ``services.speech_threads`` (one per core by default) and
syntheses in another of the same size, so a queue of decodes never holds back the first
audio of a reply. Whisper's CTranslate2 model runs one decode at a time (its own lock, both
cores inside the decode): decodes that arrive together are queued, not batched; see the
README's capacity table for what that costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.asr.base import AsrEngine, Transcript, check_expect
from voicebot.services.server import Reply, Service, service_main, write_status
from voicebot.tts.piper import PiperSpeaker

log = logging.getLogger(__name__)


def transcript_to_wire(t: Transcript) -> dict[str, Any]:
    data = asdict(t)
    data["words"] = [asdict(w) for w in t.words]
    data["alternatives"] = list(t.alternatives)
    return data


def domain_prompts() -> list[str]:
    """The dialog's fixed responses (no slot placeholders), to warm the TTS cache."""
    import yaml

    from voicebot.paths import dialogs_dir

    prompts: list[str] = []
    try:
        domain = yaml.safe_load((dialogs_dir() / "domain.yml").read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        log.warning("no prompts to warm: %s", exc)
        return prompts
    for variants in (domain.get("responses") or {}).values():
        for variant in variants or []:
            text = variant.get("text") if isinstance(variant, dict) else None
            if text and "{" not in text:
                prompts.append(str(text))
    return prompts


class SpeechService(Service):
    name = "speech"

    def __init__(self, engine: AsrEngine, speaker: PiperSpeaker, threads: int) -> None:
        super().__init__()
        self.engine = engine
        self.speaker = speaker
        self.threads = threads
        self._asr = ThreadPoolExecutor(threads, thread_name_prefix="asr")
        self._tts = ThreadPoolExecutor(threads, thread_name_prefix="tts")
        self.ops = {"decode": self.decode, "speak": self.speak}

    def after_ready(self) -> None:
        """Synthesize the dialog's fixed prompts into the shared cache, in the background
        (most come from the disk cache; the first start on a machine makes them) on a
        thread of its own at the lowest CPU priority: at the host's start-up the dialog
        service is still loading its model on the same cores, and a call's own syntheses
        go first."""

        def warm() -> None:
            with contextlib.suppress(OSError):  # Linux: the priority of this thread only
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
            started = time.monotonic()
            made = self.speaker.warm(domain_prompts())
            log.info("prompt cache warm: %d made in %.1f s", made, time.monotonic() - started)

        threading.Thread(target=warm, name="tts-warm", daemon=True).start()

    def health(self) -> Reply:
        cache = self.speaker.cache
        return self.stats.health(
            engine=self.engine.name,
            sample_rate=self.speaker.sample_rate,
            threads=self.threads,
            tts_cache={"items": len(cache), "hits": cache.hits, "misses": cache.misses},
        )

    def _decode(self, request: dict[str, Any], mark: float) -> Transcript | None:
        start = self.stats.running("decode", mark)
        ok = False
        try:
            stream = self.engine.open_stream(
                check_expect(str(request.get("expect", "free"))),
                sample_rate=int(request.get("rate", 8000)),
                length=request.get("length"),
            )
            stream.accept(np.frombuffer(request.get("audio") or b"", dtype="<i2").astype(np.int16))
            result = stream.preview() if request.get("preview") else stream.finish()
            ok = True
            return result
        finally:
            self.stats.done("decode", start, ok)

    async def decode(self, request: dict[str, Any]) -> Reply:
        mark = self.stats.queued("decode")
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._asr, self._decode, request, mark)
        return {"transcript": transcript_to_wire(result) if result is not None else None}

    async def speak(self, request: dict[str, Any]) -> AsyncIterator[Reply]:
        mark = self.stats.queued("speak")
        loop = asyncio.get_running_loop()
        chunks = self.speaker.sentences(str(request.get("text", "")))
        skip = int(request.get("skip") or 0)  # sentences a retried request already got
        started: list[float] = []

        def pull() -> Any:
            if not started:  # in the TTS thread: the wait for a free thread ends here
                started.append(self.stats.running("speak", mark))
            return next(chunks, None)

        ok = False
        try:
            while (chunk := await loop.run_in_executor(self._tts, pull)) is not None:
                if skip:
                    skip -= 1
                    continue
                yield {"pcm": chunk.astype("<i2").tobytes()}
            ok = True
        except (GeneratorExit, ConnectionError):
            ok = True  # the caller barged in: the worker stopped listening, not an error
            raise
        finally:
            self.stats.done("speak", started[0] if started else time.monotonic(), ok)


def build(args: argparse.Namespace, status: Path | None) -> SpeechService:
    from voicebot.asr import load_engine
    from voicebot.config import load_settings
    from voicebot.services.settings import services_config
    from voicebot.tts import load_speaker

    settings = load_settings()
    started = time.monotonic()
    write_status(status, "loading the speech recogniser")
    engine = load_engine(settings)
    write_status(status, "loading the voice")
    speaker = load_speaker(settings)
    write_status(status, "warming the recogniser")
    noise = np.random.default_rng(0).normal(0, 2000, 8000).astype(np.int16)
    engine.transcribe(noise, sample_rate=8000)
    speaker.render("Hello.")
    log.info("loaded in %.1f s", time.monotonic() - started)
    return SpeechService(engine, speaker, services_config(settings).threads())


def main(argv: list[str] | None = None) -> int:
    return service_main("speech", build, argv)


if __name__ == "__main__":
    sys.exit(main())
