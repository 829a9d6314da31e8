"""Evaluating the trained dialog: Rasa test stories and an NLU evaluation, as one report.

Test stories (``dialogs/tests/*.yml``) check the action sequence of every path; the NLU
evaluation runs the model on held-out utterances (``dialogs/tests/nlu/*.yml``, never used
for training) and draws Rasa's intent confusion matrix. The summary goes to
``<out>/summary.json`` and ``<out>/summary.md``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicebot.errors import DataError

if TYPE_CHECKING:
    from rasa.core.agent import Agent


@dataclass
class DialogReport:
    stories_total: int = 0
    stories_failed: int = 0
    action_accuracy: float = 0.0
    nlu_examples: int = 0
    intent_accuracy: float = 0.0
    intent_macro_f1: float = 0.0
    worst_intents: list[tuple[str, float]] = field(default_factory=list)
    confusion_matrix: str | None = None
    failed_stories_file: str | None = None

    @property
    def ok(self) -> bool:
        return self.stories_total > 0 and self.stories_failed == 0

    def markdown(self) -> str:
        lines = [
            "# Dialog evaluation",
            "",
            f"- test stories: {self.stories_total - self.stories_failed}/{self.stories_total}"
            f" passed (action accuracy {self.action_accuracy:.3f})",
            f"- NLU on {self.nlu_examples} held-out examples: accuracy"
            f" {self.intent_accuracy:.3f}, macro-F1 {self.intent_macro_f1:.3f}",
        ]
        if self.confusion_matrix:
            lines += ["", f"![intent confusion matrix]({Path(self.confusion_matrix).name})"]
        if self.worst_intents:
            lines += ["", "| intent | F1 |", "|---|---|"]
            lines += [f"| {name} | {f1:.2f} |" for name, f1 in self.worst_intents]
        if self.failed_stories_file:
            lines += ["", f"Failed stories: {self.failed_stories_file}"]
        return "\n".join(lines) + "\n"


def _yml_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.yml")) if folder.is_dir() else []


async def evaluate(agent: Agent, tests_dir: Path, out_dir: Path) -> DialogReport:
    """Run the test stories and the held-out NLU evaluation; write the report files."""
    from rasa.core.test import test as core_test
    from rasa.nlu.test import run_evaluation

    out_dir.mkdir(parents=True, exist_ok=True)
    report = DialogReport()
    story_files = _yml_files(tests_dir)
    if not story_files:
        raise DataError(f"no test stories (*.yml) in {tests_dir}")
    stories_out = out_dir / "stories"
    for path in story_files:
        (stories_out / path.stem).mkdir(parents=True, exist_ok=True)
        await core_test(str(path), agent, out_directory=str(stories_out / path.stem), errors=True)
        story_report = json.loads((stories_out / path.stem / "story_report.json").read_text())
        conv = story_report.get("conversation_accuracy", {})
        report.stories_total += int(conv.get("total", 0))
        report.stories_failed += int(conv.get("total", 0)) - int(conv.get("correct", 0))
        acc = story_report.get("accuracy", 0.0)
        report.action_accuracy = float(acc) if len(story_files) == 1 else report.action_accuracy
        failed = stories_out / path.stem / "failed_test_stories.yml"
        if failed.exists() and "story:" in failed.read_text():
            report.failed_stories_file = str(failed)

    nlu_files = _yml_files(tests_dir / "nlu")
    if nlu_files and agent.processor is not None:
        nlu_out = out_dir / "nlu"
        results: dict[str, Any] = {}
        for path in nlu_files:
            results = await run_evaluation(
                str(path),
                agent.processor,
                output_directory=str(nlu_out),
                errors=True,
                report_as_dict=True,
            )
        intent = results.get("intent_evaluation") or {}
        rep = intent.get("report") or {}
        report.intent_accuracy = float(intent.get("accuracy") or 0.0)
        report.intent_macro_f1 = float((rep.get("macro avg") or {}).get("f1-score") or 0.0)
        report.nlu_examples = int((rep.get("macro avg") or {}).get("support") or 0)
        per_intent = [
            (name, float(v.get("f1-score", 0.0)))
            for name, v in rep.items()
            if isinstance(v, dict) and name not in {"macro avg", "weighted avg", "micro avg"}
        ]
        report.worst_intents = sorted(per_intent, key=lambda x: x[1])[:8]
        matrix = nlu_out / "intent_confusion_matrix.png"
        report.confusion_matrix = str(matrix) if matrix.exists() else None

    (out_dir / "summary.json").write_text(json.dumps(asdict(report), indent=2))
    (out_dir / "summary.md").write_text(report.markdown())
    if report.confusion_matrix:
        # keep the image beside the summary so the markdown renders
        target = out_dir / Path(report.confusion_matrix).name
        target.write_bytes(Path(report.confusion_matrix).read_bytes())
    return report
