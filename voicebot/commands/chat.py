"""``voicebot chat``: a text conversation through the same dialog bridge as the phone line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid

HELP = "talk to the dialog by text; prints the outcome (resolved, or routed where and why)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--caller-id", help="pretend the call comes from this number")
    parser.add_argument("--no-train", action="store_true", help="do not train a missing model")
    parser.add_argument(
        "--campaign",
        metavar="FILE",
        help="take the outbound survey of this campaign file instead of calling in",
    )
    parser.add_argument("--name", default="", help="the callee's name in a survey's opening")


async def _converse(
    bridge: object, caller_id: str | None, campaign: str | None = None, name: str = ""
) -> int:
    from voicebot.dialog.bridge import DialogBridge

    assert isinstance(bridge, DialogBridge)
    call_id = f"chat-{uuid.uuid4().hex[:8]}"
    interactive = sys.stdin.isatty()
    reply = await bridge.start(call_id, caller_id)
    if campaign:
        from voicebot.center.campaigns.questions import SurveyScript
        from voicebot.center.campaigns.spec import load_campaign

        spec = load_campaign(campaign)
        script = spec.survey
        opening = script.opening.format(name=name.strip() or "there")
        reply = await bridge.start_survey(
            call_id,
            spec.dialog,
            SurveyScript(opening, script.consent, script.questions).to_json(),
        )
    for text in reply.texts:
        print(f"bot: {text}", flush=True)
    loop = asyncio.get_running_loop()
    while not reply.ended:
        try:
            line = await loop.run_in_executor(None, lambda: input("you: " if interactive else ""))
        except EOFError:
            break
        if not interactive:
            print(f"you: {line}")
        if line.strip().lower() in {"/quit", "/exit"}:
            break
        reply = await bridge.handle(call_id, line)
        for text in reply.texts:
            print(f"bot: {text}", flush=True)
        if reply.handoff:
            h = reply.handoff
            state = "open" if h.is_open else "closed"
            print(f"  -> hand-off to {h.department} ({state}), reason {h.reason}: {h.summary}")
    conv = bridge.conversation(call_id)
    if campaign:
        for event in conv.survey:
            if event.get("type") == "survey_answer":
                print(f"answer: {event['question']} = {event['value']}")
            else:
                print(f"survey: {event.get('outcome')} {event.get('callback') or ''}".rstrip())
        return 0
    print(f"outcome: {conv.outcome().describe()}")
    return 0


def run(args: argparse.Namespace) -> int:
    from voicebot.config import load_settings
    from voicebot.dialog.action_server import ActionServer
    from voicebot.dialog.bridge import DialogBridge
    from voicebot.dialog.model import latest_model, load_agent
    from voicebot.dialog.settings import dialog_config
    from voicebot.dialog.training import train

    logging.basicConfig(level=logging.WARNING)
    # a chat is a demo: the demo customers, unless $VOICEBOT_DEMO_CUSTOMERS=0 says otherwise
    os.environ.setdefault("VOICEBOT_DEMO_CUSTOMERS", "1")
    cfg = dialog_config(load_settings())
    model = latest_model(cfg.models_path()) if args.no_train else train()[0]
    print(f"loading {model.name} ...", file=sys.stderr)
    with ActionServer(cfg.action_endpoint):
        bridge = DialogBridge(load_agent(model, cfg.action_endpoint))
        return asyncio.run(_converse(bridge, args.caller_id, args.campaign, args.name))
