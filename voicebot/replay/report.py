"""The replay report: a table on the terminal, JSON for machines, HTML with plots for people."""

from __future__ import annotations

import base64
import html
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.replay.runner import CaseResult


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summary(results: list[CaseResult]) -> dict[str, Any]:
    latencies = [v for r in results for v in r.latencies_ms]
    stages: dict[str, list[float]] = defaultdict(list)
    for r in results:
        for t in r.turns:
            if t.get("latency_ms") is not None:
                for key in ("endpoint_ms", "asr_ms", "dialog_ms", "tts_first_ms"):
                    stages[key].append(float(t[key]))
    per_intent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        for intent in r.expected_intents:
            per_intent[intent][1] += 1
            per_intent[intent][0] += intent in r.intents
    return {
        "cases": len(results),
        "passed": sum(r.passed for r in results),
        "failed": [r.name for r in results if not r.passed],
        "turns_with_latency": len(latencies),
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "max": max(latencies) if latencies else None,
        },
        "stage_ms_mean": {k: float(np.mean(v)) for k, v in stages.items() if v},
        "per_intent": {k: {"hit": v[0], "expected": v[1]} for k, v in sorted(per_intent.items())},
    }


def table(results: list[CaseResult]) -> str:
    rows = [("case", "result", "outcome", "intents", "p50 ms")]
    for r in results:
        out = r.outcome["kind"]
        if r.outcome.get("department"):
            out += f" {r.outcome['department']}"
        p50 = percentile(r.latencies_ms, 50)
        rows.append(
            (
                r.name,
                "PASS" if r.passed else "FAIL",
                out,
                ",".join(r.intents)[:40],
                f"{p50:.0f}" if p50 is not None else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        for f in r.failures:
            lines.append(f"  {r.name}: {f}")
    return "\n".join(lines)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def plots(results: list[CaseResult], info: dict[str, Any]) -> dict[str, str]:
    """Latency histogram and per-intent hit rate, as base64 PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    latencies = [v for r in results for v in r.latencies_ms]
    if latencies:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.hist(latencies, bins=30, color="#3b7dd8")
        for q, style in ((50, "--"), (95, ":")):
            v = percentile(latencies, q)
            ax.axvline(v, color="k", linestyle=style, label=f"p{q} {v:.0f} ms")
        ax.set_xlabel("end of caller speech to first bot audio, ms")
        ax.set_ylabel("turns")
        ax.legend()
        out["latency"] = _png(fig)
        plt.close(fig)
    per_intent = info["per_intent"]
    if per_intent:
        names = list(per_intent)
        rates = [per_intent[n]["hit"] / per_intent[n]["expected"] for n in names]
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(names) + 1))
        ax.barh(names, rates, color=["#2a9d5b" if x == 1 else "#d8643b" for x in rates])
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of cases where the expected intent was recognised")
        out["intents"] = _png(fig)
        plt.close(fig)
    return out


def write(results: list[CaseResult], out_dir: Path) -> dict[str, Any]:
    """Write ``report.json`` and ``report.html``; returns the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    info = summary(results)
    (out_dir / "report.json").write_text(
        json.dumps({"summary": info, "cases": [r.as_dict() for r in results]}, indent=2)
    )
    images = plots(results, info)
    rows = []
    for r in results:
        status = "PASS" if r.passed else "FAIL"
        said = "<br>".join(html.escape(s) for s in r.bot_said[:6])
        cells = [
            html.escape(r.name),
            status,
            html.escape(f"{r.outcome['kind']} {r.outcome.get('department') or ''}"),
            html.escape(" | ".join(r.heard)),
            html.escape(", ".join(r.intents)),
            said,
            html.escape("; ".join(r.failures)),
        ]
        rows.append(f"<tr class='{status.lower()}'><td>" + "</td><td>".join(cells) + "</td></tr>")
    lat = info["latency_ms"]
    fmt = lambda v: "-" if v is None else f"{v:.0f} ms"  # noqa: E731
    imgs = "".join(f"<img src='data:image/png;base64,{b}'>" for b in images.values())
    page = f"""<!doctype html><meta charset="utf-8"><title>voicebot replay</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border-bottom:1px solid #ddd;padding:4px;
vertical-align:top;font-size:13px}}tr.fail{{background:#fde8e4}}img{{margin:1em 1em 0 0}}</style>
<h1>voicebot replay: {info["passed"]}/{info["cases"]} cases passed</h1>
<p>Turn latency (end of caller speech to first bot audio): p50 {fmt(lat["p50"])},
p95 {fmt(lat["p95"])} over {info["turns_with_latency"]} turns.</p>{imgs}
<table><tr><th>case</th><th>result</th><th>outcome</th><th>heard</th><th>intents</th>
<th>bot said</th><th>failures</th></tr>{"".join(rows)}</table>"""
    (out_dir / "report.html").write_text(page, encoding="utf-8")
    return info
