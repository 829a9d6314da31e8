"""A campaign's results: the CSV export and the report (funnel, answer distributions).

The funnel counts contacts, not attempts: dialled (at least one attempt), answered by a
person, answered by a machine, consented (answered ``yes`` to the ``consent`` question),
completed (answered every question the survey asks: the ``completed`` answer is ``yes``),
opted out (asked never to be called again).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

from voicebot.center.campaigns.store import CampaignStore
from voicebot.spreadsheet import safe_cell

FUNNEL = ("contacts", "dialled", "answered", "machine", "consented", "completed", "opted_out")


def export_csv(store: CampaignStore, name: str, path: Path) -> int:
    """Write one row per contact: who, state, attempts and their results, every answer,
    the custom fields; returns the number of rows."""
    rows, questions = store.rows(name)
    fields = sorted({k for r in rows for k in r["fields"]})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "row",
                "phone",
                "name",
                "timezone",
                "language",
                "state",
                "attempts",
                "results",
                "last_result",
                *[f"answer_{q}" for q in questions],
                *fields,
            ]
        )
        for r in rows:
            writer.writerow(
                safe_cell(cell)
                for cell in [
                    r["row"],
                    r["phone"],
                    r["name"],
                    r["timezone"],
                    r["language"],
                    r["state"],
                    r["attempts"],
                    " ".join(r["results"]),
                    r["last_result"],
                    *[r["answers"].get(q, "") for q in questions],
                    *[r["fields"].get(f, "") for f in fields],
                ]
            )
    return len(rows)


def report(store: CampaignStore, name: str) -> dict[str, Any]:
    """The funnel, attempts by result and each question's answer counts."""
    rows, questions = store.rows(name)
    funnel = Counter({k: 0 for k in FUNNEL})
    funnel["contacts"] = len(rows)
    for r in rows:
        results = r["results"]
        funnel["dialled"] += bool(results)
        funnel["answered"] += "answered" in results
        funnel["machine"] += "machine" in results
        funnel["consented"] += r["answers"].get("consent") == "yes"
        funnel["completed"] += r["answers"].get("completed") == "yes"
        funnel["opted_out"] += r["last_result"] == "opted_out" or r["state"] == "dnc"
    answers = {
        q: dict(Counter(r["answers"][q] for r in rows if q in r["answers"]).most_common())
        for q in questions
        if q not in ("consent", "completed")
    }
    return {
        "campaign": name,
        "funnel": {k: funnel[k] for k in FUNNEL},
        "attempts": {k[9:]: v for k, v in store.counts(name).items() if k.startswith("attempts_")},
        "contacts": {k[9:]: v for k, v in store.counts(name).items() if k.startswith("contacts_")},
        "answers": answers,
    }


def plot_report(result: dict[str, Any], path: Path) -> None:
    """The funnel and each question's answer distribution as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    questions = list(result["answers"])
    fig, axes = plt.subplots(1, 1 + len(questions), figsize=(4 + 3.2 * len(questions), 3.2))
    axes = axes if len(questions) else [axes]
    funnel = result["funnel"]
    ax = axes[0]
    ax.barh(list(funnel)[::-1], list(funnel.values())[::-1], color="#3b6ea5")
    ax.set_title(f"{result['campaign']}: funnel")
    for ax, q in zip(axes[1:], questions, strict=False):
        counts = result["answers"][q]
        keys = sorted(counts, key=lambda k: (len(k), k))
        ax.bar(keys, [counts[k] for k in keys], color="#6a994e")
        ax.set_title(q)
        ax.tick_params(axis="x", labelrotation=45)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
