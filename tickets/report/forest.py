"""The forest plot of the index: every graded part of the report as one row, its estimated
difference as a dot and its interval as a line, a mark at the paper's threshold with a tick
toward the paper's side, and the dot, line and outcome coloured by the part's outcome.

Accuracy differences (percent parts) share one panel in points. The other differences (a
kernel distance, an output gap, ...) are drawn in a second panel on their own axis, in their
own units: nothing is rescaled, and each row there is read only against its own threshold.
The figure is inline SVG written here, so the page needs nothing from the network."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from tickets.report.records import ClaimRow, colour, part_text

WIDTH = 1000
LABEL_X = 4  # left edge of the row labels
PLOT_X0, PLOT_X1 = 450, 860  # the axis
OUTCOME_X = 872
ROW_H = 20
TOP = 26  # room for the panel's title
BOTTOM = 36  # room for the tick labels and the axis title
LABEL_CHARS = 66  # longer labels are cut, the full name stays in the row's tooltip


@dataclass(frozen=True)
class _Row:
    claim: str
    part: dict
    scale: float  # 100 for an accuracy difference in points, else 1


def _nice_ticks(lo: float, hi: float, target: int = 8) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]."""
    raw = (hi - lo) / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 10) for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def _tick(v: float) -> str:
    return "0" if v == 0 else f"{v:+g}"


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def _panel(title: str, axis: str, rows: list[_Row], min_span: float) -> str:
    values = [r.scale * r.part[k] for r in rows for k in ("low", "high", "estimate", "threshold")]
    lo, hi = min(values), max(values)
    if hi - lo < min_span:  # all at one value (an exact zero difference): a readable axis
        mid = (lo + hi) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    pad = (hi - lo) * 0.06
    lo, hi = lo - pad, hi + pad
    ticks = _nice_ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])

    def x(v: float) -> float:
        return round(PLOT_X0 + (v - lo) / (hi - lo) * (PLOT_X1 - PLOT_X0), 1)

    height = TOP + ROW_H * len(rows) + BOTTOM
    y_axis = TOP + ROW_H * len(rows)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="forest-panel" width="{WIDTH}" '
           f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
           f'aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">',
           f'<text x="{LABEL_X}" y="16" font-weight="bold" font-size="13">{escape(title)}</text>']
    for t in ticks:
        out.append(f'<line x1="{x(t)}" y1="{TOP}" x2="{x(t)}" y2="{y_axis}" stroke="#d0d7de" '
                   'stroke-width="1"/>'
                   f'<text x="{x(t)}" y="{y_axis + 14}" text-anchor="middle" '
                   f'fill="#57606a">{_tick(t)}</text>')
    out.append(f'<text x="{(PLOT_X0 + PLOT_X1) / 2}" y="{y_axis + 30}" text-anchor="middle" '
               f'fill="#57606a">{escape(axis)}</text>')
    for i, r in enumerate(rows):
        p, t = r.part, part_text(r.part)
        y0 = TOP + i * ROW_H
        yc = y0 + ROW_H / 2
        c = colour(p["outcome"])
        tip = (f"{r.claim}, {p['name']}: {t.estimate} {t.interval}{t.seeds} (paper: {t.paper}) "
               f"{t.outcome}")
        out.append(f'<g class="part" data-claim="{escape(r.claim)}" '
                   f'data-outcome="{escape(p["outcome"])}"><title>{escape(tip)}</title>')
        if i % 2:
            out.append(f'<rect x="0" y="{y0}" width="{WIDTH}" height="{ROW_H}" '
                       'fill="#f6f8fa"/>')
        out.append(f'<text x="{LABEL_X}" y="{yc + 4}"><tspan font-weight="bold">'
                   f'{escape(r.claim)}</tspan> {escape(_label(p["name"]))}</text>')
        xt = x(r.scale * p["threshold"])
        side = 7 if p["expected_sign"] > 0 else -7
        out.append(f'<path class="threshold" d="M{xt},{y0 + 2}v{ROW_H - 4}M{xt},{y0 + 2}h{side}" '
                   'stroke="#1f2328" stroke-width="1.5" fill="none"/>')
        out.append(f'<line class="interval" x1="{x(r.scale * p["low"])}" y1="{yc}" '
                   f'x2="{x(r.scale * p["high"])}" y2="{yc}" stroke="{c}" stroke-width="2.5"/>')
        out.append(f'<circle class="estimate" cx="{x(r.scale * p["estimate"])}" cy="{yc}" r="4" '
                   f'fill="{c}"/>')
        out.append(f'<text x="{OUTCOME_X}" y="{yc + 4}" fill="{c}" font-weight="bold">'
                   f'{escape(p["outcome"])}</text></g>')
    out.append("</svg>")
    return "".join(out)


def forest_svg(rows: list[ClaimRow]) -> str:
    """The forest plot of every graded part of `rows` (claims not run or withdrawn have none)
    as inline SVG: a panel of accuracy differences in points, then one of the other
    differences in their own units; '' when no claim has a graded part."""
    acc = [_Row(r.claim.id, p, 100) for r in rows for p in r.parts if p.get("percent", True)]
    other = [_Row(r.claim.id, p, 1) for r in rows for p in r.parts if not p.get("percent", True)]
    panels = []
    if acc:
        panels.append(_panel("Accuracy differences", "difference in accuracy, points", acc,
                             min_span=2.0))
    if other:
        panels.append(_panel("Other differences, each in its own unit (see its name)",
                             "difference in the part's own unit", other, min_span=0.02))
    return "\n".join(panels)
