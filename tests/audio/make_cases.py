#!/usr/bin/env python3
"""Make the recorded caller cases in tests/audio: the script that made them, kept.

Callers are NOT the bot's own voice: espeak-ng voices (US, British, Scottish, Caribbean,
New York, female and male variants) and flite voices (kal, awb, rms, slt), rendered at
8 kHz G.711 µ-law like a phone line. Account numbers and PINs are also spoken by real
people: ``fsdd_digits`` turns are assembled at replay time from the Free Spoken Digit
Dataset in ../shared/eval (never copied here). Noise is mixed in at replay time
(``noise_snr_db``).

Usage: .venv/bin/python tests/audio/make_cases.py [--force]
Writes tests/audio/<case>.yml and tests/audio/<case>/NN.wav; existing WAVs are kept unless
--force (so the committed recordings stay stable).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
NOW = "2026-11-23T18:30:00+00:00"  # Monday evening: contracts closed, everyone else open


def say(text: str, voice: str, **extra: Any) -> dict[str, Any]:
    return {"say": text, "voice": voice, **extra}


# expect keys: heard (per speech turn), intents, outcome, department, reason
CASES: dict[str, dict[str, Any]] = {
    # ---- first-level answers -------------------------------------------------------
    "hours_us_male": {
        "description": "opening hours, US male espeak voice, then goodbye",
        "turns": [
            say("hi what time are you open on saturday", "espeak:en-us"),
            say("no thanks goodbye", "espeak:en-us"),
        ],
        "expect": {"heard": [["open"]], "intents": ["ask_opening_hours"], "outcome": "resolved"},
    },
    "hours_flite_kal": {
        "description": "opening hours, flite kal voice",
        "turns": [
            say("when are you open", "flite:kal"),
            say("that's all thank you bye", "flite:kal"),
        ],
        "expect": {"intents": ["ask_opening_hours"], "outcome": "resolved"},
    },
    "address_gb_female": {
        "description": "office address, British female espeak voice",
        "turns": [
            say("what is your address please", "espeak:en-gb+f3"),
            say("no that's everything goodbye", "espeak:en-gb+f3"),
        ],
        "expect": {"heard": [["address"]], "intents": ["ask_address"], "outcome": "resolved"},
    },
    "website_flite_slt": {
        "description": "website, flite slt (female) voice",
        "turns": [say("what is your website", "flite:slt"), say("no goodbye", "flite:slt")],
        "expect": {"heard": [["website"]], "intents": ["ask_website"], "outcome": "resolved"},
    },
    "phone_number_caribbean": {
        "description": "phone number, Caribbean English espeak voice",
        "turns": [
            say("can i have your phone number please", "espeak:en-029"),
            say("no thanks bye", "espeak:en-029"),
        ],
        "expect": {"intents": ["ask_phone_number"], "outcome": "resolved"},
    },
    "departments_awb": {
        "description": "which departments exist, flite awb (Scottish male) voice",
        "turns": [say("which departments do you have", "flite:awb"), say("goodbye", "flite:awb")],
        "expect": {"intents": ["ask_departments"], "outcome": "resolved"},
    },
    "outage_postcode_scottish": {
        "description": "outage check, postcode asked for and spelled out, Scottish voice",
        "turns": [
            say("is there a power cut in my area", "espeak:en-gb-scotland"),
            say("s w one a one a a", "espeak:en-gb-scotland"),
            say("no that's all goodbye", "espeak:en-gb-scotland"),
        ],
        "expect": {"intents": ["check_outage"], "outcome": "resolved"},
    },
    "outage_postcode_inline_rms": {
        "description": "outage check with the postcode in the first sentence, flite rms",
        "turns": [
            say("is there an outage at postcode m one one a a", "flite:rms"),
            say("no goodbye", "flite:rms"),
        ],
        "expect": {"intents": ["check_outage"], "outcome": "resolved"},
    },
    "balance_fsdd_account_pin": {
        "description": "balance: account number and PIN spoken by real people (FSDD)",
        "turns": [
            say("what is my balance", "espeak:en-us+f2"),
            {"fsdd_digits": "12345678", "speaker": "jackson"},
            {"fsdd_digits": "1234", "speaker": "nicolas"},
            say("no thank you goodbye", "espeak:en-us+f2"),
        ],
        "expect": {"intents": ["check_balance"], "outcome": "resolved"},
    },
    "balance_keypad": {
        "description": "balance: account number and PIN keyed on the phone (DTMF)",
        "turns": [
            say("i would like to check my balance", "espeak:en-gb"),
            {"dtmf": "12345678#"},
            {"dtmf": "1234#"},
            say("no goodbye", "espeak:en-gb"),
        ],
        "expect": {"intents": ["check_balance"], "outcome": "resolved"},
    },
    "order_spoken_dob": {
        "description": "order status: account spoken as words, date of birth as second factor",
        "turns": [
            say("where is my order", "espeak:en-us-nyc"),
            say("one two three four five six seven eight", "espeak:en-us-nyc"),
            say("twelfth of march nineteen eighty", "espeak:en-us-nyc"),
            say("no thanks goodbye", "espeak:en-us-nyc"),
        ],
        "expect": {"intents": ["check_order"], "outcome": "resolved"},
    },
    "order_caller_id": {
        "description": "order status from a known number: only the PIN is asked (keyed)",
        "caller_id": "+441632960001",
        "turns": [
            say("has my order been dispatched yet", "flite:slt"),
            {"dtmf": "1234#"},
            say("no that's all goodbye", "flite:slt"),
        ],
        "expect": {"intents": ["check_order"], "outcome": "resolved"},
    },
    "fault_fixed_by_troubleshooting": {
        "description": "internet fault, the troubleshooting steps help",
        "turns": [
            say("my internet is not working", "espeak:en-gb+m3"),
            say("yes that fixed it thank you", "espeak:en-gb+m3"),
            say("no goodbye", "espeak:en-gb+m3"),
        ],
        "expect": {"intents": ["report_fault"], "outcome": "resolved"},
    },
    "repeat_then_goodbye": {
        "description": "caller asks the bot to repeat its answer",
        "turns": [
            say("what time do you close today", "flite:kal"),
            say("sorry can you repeat that", "flite:kal"),
            say("goodbye", "flite:kal"),
        ],
        "expect": {"intents": ["ask_opening_hours", "repeat"], "outcome": "resolved"},
    },
    # ---- routes to departments -----------------------------------------------------
    "billing_route": {
        "description": "billing question goes to billing",
        "turns": [say("i have a question about my bill", "espeak:en-us")],
        "expect": {
            "heard": [["bill"]],
            "intents": ["billing_question"],
            "outcome": "routed",
            "department": "billing",
        },
    },
    "fault_not_fixed_level2": {
        "description": "broadband fault, troubleshooting does not help: level 2 support",
        "turns": [
            say("my broadband keeps dropping out", "flite:awb"),
            say("no it is still not working", "flite:awb"),
        ],
        "expect": {"intents": ["report_fault"], "outcome": "routed", "department": "support_l2"},
    },
    "specialist_level3": {
        "description": "level 2 already tried: escalation to level 3 specialists",
        "turns": [
            say(
                "technical support already tried to fix my internet and it is still "
                "broken i need a specialist engineer",
                "espeak:en-gb-x-rp",
            )
        ],
        "expect": {
            "intents": ["escalate_specialist"],
            "outcome": "routed",
            "department": "support_l3",
        },
    },
    "sales_route": {
        "description": "new broadband package: sales",
        "turns": [say("i want to buy a new broadband package", "espeak:en-us+f4")],
        "expect": {"intents": ["sales_inquiry"], "outcome": "routed", "department": "sales"},
    },
    "complaint_route": {
        "description": "formal complaint: customer relations",
        "turns": [say("i want to make a complaint", "flite:rms")],
        "expect": {"intents": ["complain"], "outcome": "routed", "department": "complaints"},
    },
    "upset_caller": {
        "description": "angry caller goes to a person",
        "turns": [
            say(
                "this is ridiculous i have been waiting for weeks and you people are useless",
                "espeak:en-us-nyc",
            )
        ],
        "expect": {"outcome": "routed", "department": "complaints", "reason": "upset"},
    },
    "request_human": {
        "description": "caller asks for a real person",
        "turns": [say("can i speak to a real person please", "espeak:en-gb")],
        "expect": {
            "intents": ["request_human"],
            "outcome": "routed",
            "department": "customer_service",
            "reason": "requested",
        },
    },
    "not_understood_twice": {
        "description": "two misunderstandings in a row go to a person",
        "turns": [
            say("the purple giraffe is singing opera on the roof", "flite:kal"),
            say("bananas are flying over the mountains tonight", "flite:kal"),
        ],
        "expect": {
            "outcome": "routed",
            "department": "customer_service",
            "reason": "not_understood",
        },
    },
    # ---- out of hours, identification failures ---------------------------------------
    "moving_out_of_hours_message": {
        "description": "moving house: contracts team closed, caller leaves a message",
        "turns": [
            say("i am moving house next month", "espeak:en-gb+f3"),
            say("yes please", "espeak:en-gb+f3"),
            say(
                "please call me back about moving my contract to my new address", "espeak:en-gb+f3"
            ),
        ],
        "expect": {"intents": ["move_house"], "outcome": "message", "department": "contracts"},
    },
    "cancel_out_of_hours_message": {
        "description": "cancelling: contracts team closed, message taken",
        "turns": [
            say("i want to cancel my contract", "flite:slt"),
            say("yes", "flite:slt"),
            say("i want to cancel because i am moving abroad please call me", "flite:slt"),
        ],
        "expect": {"intents": ["cancel_contract"], "outcome": "message", "department": "contracts"},
    },
    "identification_fails_three_times": {
        "description": "three wrong PINs: to a person with the reason",
        "turns": [
            say("what is my balance", "espeak:en-us"),
            {"dtmf": "12345678#"},
            {"dtmf": "9999#"},
            {"dtmf": "12345678#"},
            {"dtmf": "8888#"},
            {"dtmf": "12345678#"},
            {"dtmf": "7777#"},
        ],
        "expect": {
            "outcome": "routed",
            "department": "customer_service",
            "reason": "identification_failed",
        },
    },
    # ---- barge-in, silence, noise, keypad ----------------------------------------------
    "barge_in_greeting": {
        "description": "caller talks over the greeting; the bot stops and answers",
        "turns": [
            say("opening hours please", "espeak:en-gb", barge_in_ms=1200),
            say("goodbye", "espeak:en-gb"),
        ],
        "expect": {"intents": ["ask_opening_hours"], "outcome": "resolved"},
    },
    "barge_in_answer": {
        "description": "caller interrupts a long answer to ask something else",
        "turns": [
            say("which departments do you have", "flite:awb"),
            say("what is your website", "flite:awb", barge_in_ms=1500),
            say("goodbye", "flite:awb"),
        ],
        "expect": {"intents": ["ask_departments", "ask_website"], "outcome": "resolved"},
    },
    "silence_then_request": {
        "description": "caller is silent at first: the bot reprompts, then the caller asks",
        "turns": [
            {"pause_s": 7.0},
            say("what time are you open", "espeak:en-us+f2"),
            say("goodbye", "espeak:en-us+f2"),
        ],
        "expect": {"intents": ["ask_opening_hours"], "outcome": "resolved"},
    },
    "silence_escalates": {
        "description": "caller stays silent: reprompt, then a person",
        "turns": [{"pause_s": 7.0}, {"pause_s": 25.0}],
        "expect": {"outcome": "routed", "department": "customer_service", "reason": "no_input"},
    },
    "noisy_line_hours": {
        "description": "opening hours on a noisy line (white noise at 12 dB SNR)",
        "turns": [
            say("what are your opening hours", "espeak:en-gb", noise_snr_db=12),
            say("no goodbye", "espeak:en-gb", noise_snr_db=12),
        ],
        "expect": {"intents": ["ask_opening_hours"], "outcome": "resolved"},
    },
    "noisy_line_billing": {
        "description": "billing question on a very noisy line (6 dB SNR)",
        "turns": [say("i need help with my bill", "flite:rms", noise_snr_db=6)],
        "expect": {"intents": ["billing_question"], "outcome": "routed", "department": "billing"},
    },
    "keypad_account_spoken_pin": {
        "description": "account number keyed, PIN spoken by a real person (FSDD)",
        "turns": [
            say("how much do i owe", "flite:kal"),
            {"dtmf": "87654321#"},
            {"fsdd_digits": "0007", "speaker": "yweweler"},
            say("no goodbye", "flite:kal"),
        ],
        "expect": {"intents": ["check_balance"], "outcome": "resolved"},
    },
    "balance_fsdd_grouped": {
        "description": "balance: account number and PIN read in groups by real people (FSDD),"
        " pausing 1.8 s and 1.5 s between the groups",
        "turns": [
            say("what is my balance please", "espeak:en-us+m3"),
            {"fsdd_digits": "123 45 678", "speaker": "jackson", "group_gap_s": 1.8},
            {"fsdd_digits": "12 34", "speaker": "yweweler", "group_gap_s": 1.5},
            say("no thank you goodbye", "espeak:en-us+m3"),
        ],
        "expect": {"intents": ["check_balance"], "outcome": "resolved"},
    },
    "balance_fsdd_grouped_long_pauses": {
        "description": "balance: account number read 4-4 and PIN 2-2 by real people (FSDD),"
        " pausing 2 s between the groups",
        "turns": [
            say("i want to check my account balance", "flite:slt"),
            {"fsdd_digits": "2345 6789", "speaker": "yweweler", "group_gap_s": 2.0},
            {"fsdd_digits": "43 21", "speaker": "jackson", "group_gap_s": 2.0},
            say("no that's all goodbye", "flite:slt"),
        ],
        "expect": {"intents": ["check_balance"], "outcome": "resolved"},
    },
    "balance_fsdd_pin_one_digit_at_a_time": {
        # told "4 digits", Whisper heard "4 3 2" and a pause as "4324": the PIN looked
        # complete and the real 4th digit became a new answer (issue 10, part 1)
        "description": "balance: account number said in one go, PIN read one digit at a"
        " time with 2 s pauses, both by a real person (FSDD)",
        "turns": [
            say("what is my account balance", "espeak:en-gb"),
            {"fsdd_digits": "23456789", "speaker": "yweweler"},
            {"fsdd_digits": "4 3 2 1", "speaker": "yweweler", "group_gap_s": 2.0},
            say("no thank you goodbye", "espeak:en-gb"),
        ],
        "expect": {"intents": ["check_balance"], "outcome": "resolved"},
    },
    # ---- misheard yes/no answers and the keypad menu (issue 10, parts 2 and 8) ------------
    "route_confirm_yeah_no": {
        "description": "a doubtful billing route answered 'yeah no': not put through",
        "turns": [
            say("there is something odd on my statement", "flite:kal"),
            say("yeah no", "espeak:en-gb"),
            say("no thanks goodbye", "flite:kal"),
        ],
        "expect": {"intents": ["billing_question", "deny"], "outcome": "abandoned"},
    },
    "route_confirm_no_thats_wrong": {
        "description": "a doubtful billing route answered 'no, that's wrong' (flite kal)",
        "turns": [
            say("there is something odd on my statement", "flite:kal"),
            say("no that's wrong", "flite:kal"),
            say("goodbye", "flite:kal"),
        ],
        "expect": {"intents": ["billing_question", "deny"], "outcome": "abandoned"},
    },
    "message_offer_nah": {
        # Whisper tiny.en hears espeak-ng's "nah" as "Yeah." (both voices tried): no text
        # rule can undo that, so this case uses flite, whose "nah" it hears as "No."
        "description": "contracts closed: the caller says 'nah' to leaving a message",
        "turns": [
            say("i want to cancel my contract", "flite:kal"),
            say("nah", "flite:kal"),
            say("no goodbye", "flite:kal"),
        ],
        "expect": {"intents": ["cancel_contract", "deny"], "outcome": "abandoned"},
    },
    "keypad_menu_after_noise": {
        "description": "noisy line: misunderstood once, then presses 1 for billing",
        "turns": [
            # an unintelligible request (the words of not_understood_twice) on a noisy line
            say("the purple giraffe is singing opera on the roof", "flite:kal", noise_snr_db=6),
            {"dtmf": "1"},
        ],
        "expect": {"outcome": "routed", "department": "billing", "reason": "requested"},
    },
    "keypad_key_in_troubleshooting": {
        "description": "noisy request misheard (a doubtful route to customer relations is "
        "asked about): the caller presses 1 for billing instead of answering",
        "turns": [
            say("hello sorry the line is terrible", "espeak:en-us", noise_snr_db=0),
            {"dtmf": "1"},
        ],
        "expect": {"outcome": "routed", "department": "billing", "reason": "requested"},
    },
    "keypad_key_at_start": {
        "description": "a caller used to IVR menus presses 4 (sales) at once",
        "turns": [{"dtmf": "4"}],
        "expect": {"outcome": "routed", "department": "sales", "reason": "requested"},
    },
    "greet_and_goodbye": {
        "description": "hello then goodbye: nothing asked",
        "turns": [say("hello", "espeak:en-us"), say("goodbye", "espeak:en-us")],
        "expect": {"intents": ["greet", "goodbye"], "outcome": "abandoned"},
    },
}


def render(text: str, voice: str, out: Path) -> None:
    """Speak ``text`` with ``voice`` (espeak:NAME or flite:NAME) into an 8 kHz µ-law WAV."""
    engine, name = voice.split(":", 1)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        if engine == "espeak":
            subprocess.run(["espeak-ng", "-v", name, "-s", "160", "-w", str(raw), text], check=True)
        elif engine == "flite":
            subprocess.run(["flite", "-voice", name, "-t", text, "-o", str(raw)], check=True)
        else:
            raise SystemExit(f"unknown voice engine {engine}")
        out.parent.mkdir(parents=True, exist_ok=True)
        # 300-3400 Hz telephone band, 8 kHz, G.711 µ-law
        subprocess.run(
            [
                "sox",
                str(raw),
                "-r",
                "8000",
                "-c",
                "1",
                "-e",
                "u-law",
                str(out),
                "highpass",
                "300",
                "lowpass",
                "3400",
                "pad",
                "0.1",
                "0.1",
            ],
            check=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="re-render existing WAVs")
    args = parser.parse_args()
    for tool in ("espeak-ng", "flite", "sox"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed (apt-get install espeak-ng flite sox)")
    for name, spec in CASES.items():
        turns = []
        for i, turn in enumerate(spec["turns"], 1):
            turn = dict(turn)
            if "say" in turn:
                wav = HERE / name / f"{i:02d}.wav"
                if args.force or not wav.exists():
                    render(turn["say"], turn["voice"], wav)
                entry = {
                    "audio": f"{name}/{wav.name}",
                    "text": turn.pop("say"),
                    "voice": turn.pop("voice"),
                }
                entry.update(turn)
                turns.append(entry)
            else:
                turns.append(turn)
        doc = {"description": spec["description"]}
        if spec.get("caller_id"):
            doc["caller_id"] = spec["caller_id"]
        doc["turns"] = turns
        doc["expect"] = spec["expect"]
        (HERE / f"{name}.yml").write_text(yaml.safe_dump(doc, sort_keys=False, width=100))
    (HERE / "_suite.yml").write_text(
        yaml.safe_dump(
            {
                "now": NOW,
                "note": "replay freezes the dialog clock here: Monday 18:30 UTC, contracts closed",
            }
        )
    )
    print(f"{len(CASES)} cases in {HERE}")


if __name__ == "__main__":
    main()
