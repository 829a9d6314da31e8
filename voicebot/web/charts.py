"""Charts drawn on the server as inline SVG (no scripts, no CDN: works offline)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#2f6fb0", "#e0823d", "#4a9b5f", "#c44e52", "#8172b2", "#937860", "#6b6b6b")


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    width: int = 560,
    height: int = 220,
    unit: str = "",
    color: str = PALETTE[0],
) -> str:
    """A vertical bar chart with a value over each bar (labels are escaped)."""
    n = max(len(values), 1)
    top = max(values, default=0) or 1
    left, bottom, head = 8, 38, 36
    plot_h = height - bottom - head
    slot = (width - 2 * left) / n
    bar = max(slot * 0.72, 1.0)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>',
        f'<line x1="{left}" y1="{head + plot_h}" x2="{width - left}" y2="{head + plot_h}"'
        ' stroke="#999"/>',
    ]
    small = n > 12
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * (value / top)
        x = left + i * slot + (slot - bar) / 2
        y = head + plot_h - h
        shown = f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{color}">'
            f"<title>{escape(str(label))}: {shown}{escape(unit)}</title></rect>"
        )
        if value and not small:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle"'
                f' class="chart-value">{shown}</text>'
            )
        text = str(label) if len(str(label)) <= 14 else str(label)[:13] + "…"
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{head + plot_h + 14}" text-anchor="middle"'
            f' class="chart-label{" chart-small" if small else ""}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(
    items: Sequence[tuple[str, float]], *, title: str, width: int = 560, unit: str = ""
) -> str:
    """A horizontal bar chart (one row per item; long labels fit)."""
    row, head, label_w = 22, 24, 190
    height = head + row * max(len(items), 1) + 8
    top = max((v for _, v in items), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="4" y="16" class="chart-title">{escape(title)}</text>',
    ]
    if not items:
        parts.append(f'<text x="4" y="{head + 14}" class="chart-label">no data</text>')
    for i, (label, value) in enumerate(items):
        y = head + i * row
        w = (width - label_w - 60) * (value / top)
        color = PALETTE[i % len(PALETTE)]
        text = str(label) if len(str(label)) <= 28 else str(label)[:27] + "…"
        shown = f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" class="chart-label">'
            f"{escape(text)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{color}">'
            f"<title>{escape(str(label))}: {shown}{escape(unit)}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" class="chart-value">'
            f"{shown}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
