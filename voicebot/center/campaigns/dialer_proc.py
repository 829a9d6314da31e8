"""A dialer process: one :class:`~voicebot.telephony.outbound.OutboundLine` placing campaign
calls for the campaign process that started it (at most ``outbound.calls_per_dialer``).

    python -m voicebot.center.campaigns.dialer_proc --store var/campaigns.sqlite3 \
        --sip-port 5170 --rtp-port 24000 [--name dialer-0]

It talks JSON lines: stdin brings ``{"op": "call", "attempt_id", "contact", "spec"}`` (the
attempt is already committed by the campaign process); stdout answers ``{"op": "ready"}``
once the line listens and ``{"op": "outcome", "attempt_id", "result", "detail",
"callback_at", "opted_out"}`` per call. Answers go straight into the campaign database the
moment they are given (so none is lost if either process dies). When stdin closes (the
campaign process ended or was killed) the calls in progress are hung up and it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from voicebot.center.campaigns.dialer import CallOutcome
from voicebot.center.campaigns.outbound_settings import OutboundSettings, outbound_settings
from voicebot.center.campaigns.sipcall import Voice, place_call
from voicebot.center.campaigns.spec import CampaignSpec
from voicebot.center.campaigns.store import CampaignStore, DueContact
from voicebot.config import Settings, load_settings, section_to
from voicebot.errors import TelephonyError, VoicebotError
from voicebot.telephony.settings import SipSettings

log = logging.getLogger(__name__)

BIND_RETRY_S = 15.0
"""A restarted campaign's dialer may find its port still held by the one it replaces: it
tries again this long (s)."""


def load_voice(settings: Settings, survey: str) -> Voice:
    """What this process speaks and listens with. ``spoken``: the voice pipeline for the
    survey dialog (the host's speech and dialog services when ``services.mode`` is shared,
    else every model loaded here). ``keypad``: a TTS voice only (the speech service's when
    it answers, else Piper loaded here)."""
    from voicebot.services.settings import services_config

    svc = services_config(settings)
    if survey == "spoken":
        from voicebot.center.campaigns.survey_call import run_survey
        from voicebot.pipeline import Pipeline

        pipeline = Pipeline.connect(settings) if svc.mode == "shared" else Pipeline.load(settings)
        return Voice(pipeline.speaker, pipeline, run_survey)
    if svc.mode == "shared":
        from voicebot.services.client import ServiceClient
        from voicebot.services.speech_client import RemoteSpeaker
        from voicebot.tts.config import tts_config

        client = ServiceClient(svc.speech(), reconnect_s=2.0, timeout_s=svc.request_timeout_s)
        try:
            client.request({"op": "health"}, "speech service health")
            return Voice(RemoteSpeaker(client, tts_config(settings).sample_rate))
        except VoicebotError as exc:
            log.warning("no speech service (%s): loading the Piper voice here", exc)
    from voicebot.tts import load_speaker

    return Voice(load_speaker(settings))


_PROTOCOL: IO[str] = sys.stdout


def send(message: dict[str, Any]) -> None:
    """One JSON line to the campaign process."""
    _PROTOCOL.write(json.dumps(message) + "\n")
    _PROTOCOL.flush()


def _private_stdout() -> None:
    """Keep stdout for the protocol only: anything else printing to fd 1 (pjsua2, Piper)
    goes to stderr, the log."""
    global _PROTOCOL
    _PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


class DialerProcess:
    def __init__(
        self, store: CampaignStore, line: Any, voice: Voice, cfg: OutboundSettings
    ) -> None:
        self.store, self.line, self.voice, self.cfg = store, line, voice, cfg
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, message: dict[str, Any]) -> None:
        send(message)

    async def call(self, request: dict[str, Any]) -> None:
        attempt_id = int(request["attempt_id"])
        contact = DueContact(**request["contact"])
        spec = CampaignSpec.from_dict(request["spec"])

        def answer(question: str, value: str) -> None:
            self.store.record_answer(attempt_id, question, value, time.time())

        try:
            outcome = await place_call(self.line, self.voice, spec, contact, answer, self.cfg)
        except Exception as exc:  # noqa: BLE001 - one call's failure is reported, not fatal
            log.warning("attempt %d failed: %s", attempt_id, exc)
            outcome = CallOutcome("failed", f"error: {exc}"[:200])
        self.send(
            {
                "op": "outcome",
                "attempt_id": attempt_id,
                "result": outcome.result,
                "detail": outcome.detail,
                "callback_at": outcome.callback_at,
                "opted_out": outcome.opted_out,
            }
        )

    async def run(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            try:
                request = json.loads(line)
            except json.JSONDecodeError:
                log.error("bad request line ignored")
                continue
            if request.get("op") == "call":
                task = asyncio.create_task(self.call(request))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        log.info("stdin closed: hanging up %d call(s) and stopping", len(self.tasks))


async def serve(args: argparse.Namespace, settings: Settings) -> None:
    from voicebot.telephony.outbound import OutboundLine

    sip = section_to(SipSettings, settings, "sip")
    cfg = outbound_settings(settings)
    sip = dataclasses.replace(sip, calls_per_worker=cfg.calls_per_dialer, rtp_ports=cfg.rtp_ports)
    voice = await asyncio.get_running_loop().run_in_executor(None, load_voice, settings, cfg.survey)
    line = OutboundLine(
        sip,
        sip_address=cfg.address,
        sip_port=args.sip_port,
        rtp_port=args.rtp_port,
        proxy=cfg.proxy,
        name=args.name,
    )
    deadline = time.monotonic() + BIND_RETRY_S
    while True:
        try:
            line.start()
            break
        except TelephonyError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    proc = DialerProcess(CampaignStore(args.store), line, voice, cfg)
    stop = asyncio.Event()
    serving = asyncio.create_task(line.serve(stop))
    send({"op": "ready", "name": args.name, "port": args.sip_port})
    try:
        await proc.run(reader)
    finally:
        for task in list(proc.tasks):
            task.cancel()
        stop.set()
        await serving


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voicebot-dialer", description=__doc__)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--name", default="dialer")
    args = parser.parse_args(argv)
    _private_stdout()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {args.name} %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(args, load_settings()))
    except VoicebotError as exc:
        print(f"error[{exc.code}]: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
