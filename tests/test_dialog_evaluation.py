"""`voicebot test-dialogs` on the real model: every test story passes, held-out NLU is good."""

from __future__ import annotations

from pathlib import Path

from voicebot.dialog.evaluation import evaluate
from voicebot.paths import dialogs_dir


def test_stories_pass_and_held_out_intents_are_recognised(  # type: ignore[no-untyped-def]
    rasa_agent, event_loop_runner, tmp_path: Path
) -> None:
    report = event_loop_runner.run_until_complete(
        evaluate(rasa_agent, dialogs_dir() / "tests", tmp_path)
    )
    assert report.stories_total >= 20
    assert report.stories_failed == 0, report.failed_stories_file
    assert report.nlu_examples >= 50
    assert report.intent_accuracy >= 0.85, report.worst_intents
    assert (tmp_path / "intent_confusion_matrix.png").stat().st_size > 10_000
    summary = (tmp_path / "summary.md").read_text()
    assert "test stories:" in summary and "held-out" in summary
