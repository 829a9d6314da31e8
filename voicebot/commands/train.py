"""``voicebot train``: validate nlu/ and dialogs/, then train the dialog model into models/."""

from __future__ import annotations

import argparse
import logging

HELP = "validate the dialog data and train the Rasa model (skipped if nothing changed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="train even if nothing changed")
    parser.add_argument("--validate-only", action="store_true", help="check the data and stop")


def run(args: argparse.Namespace) -> int:
    from voicebot.dialog.training import DialogProject, train, validate

    logging.basicConfig(level=logging.WARNING)
    project = DialogProject.discover()
    if args.validate_only:
        validate(project)
        print(f"dialog data OK: {len(project.data)} training files")
        return 0
    model, trained = train(project, force=args.force)
    print(f"{'trained' if trained else 'up to date'}: {model}")
    return 0
