"""The retention chart: each group's estimate with its interval, drawn on the server
as SVG under the same rules as :mod:`makegood.kits.charts.series`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from makegood.kits.charts.series import chart_id, svg_open, svg_text


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval, on the scale the chart's ``fmt`` reads."""

    label: str
    value: float
    low: float
    high: float
    note: str  # the estimate as people read it, beside the row
    kind: str = ""  # an extra class, so related rows share a colour


def nice_span(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2 or 5 times 10^k."""
    if high <= low:
        low, high = low - 0.5, high + 0.5
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next((m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw), 10 * magnitude)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def interval_chart(
    rows: Sequence[Estimate],
    *,
    key: str,
    title: str,
    desc: str,
    fmt: Callable[[float], str],
    reference: float | None = None,
    reference_label: str = "",
    axis_label: str = "",
    width: int = 960,
) -> Markup:
    """Estimates as dots with whiskers for their intervals, one row each, on a shared
    axis fitted to the intervals (dots, not bars, so the axis need not start at zero),
    with an optional dashed reference line such as "no difference"."""
    left, right, top, row = 210, 190, 10, 46
    axis_gap = 46 if axis_label else 30
    bottom = top + row * max(1, len(rows))
    height = bottom + axis_gap + (16 if reference_label else 0)
    plot_w = width - left - right
    ends = [v for r in rows for v in (r.low, r.high, r.value)]
    if reference is not None:
        ends.append(reference)
    ticks = nice_span(min(ends, default=0.0), max(ends, default=1.0))
    lo, hi = ticks[0], ticks[-1]

    def x_of(value: float) -> float:
        return left + (value - lo) / (hi - lo) * plot_w

    out = svg_open(key, height, title, desc, width)
    for tick in ticks:
        x = x_of(tick)
        out.append(
            f'<line class="c-grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"></line>'
        )
        out.append(svg_text(x, bottom + 16, fmt(tick), "c-tick", "middle"))
    if reference is not None:
        x = x_of(reference)
        out.append(
            f'<line class="c-reference" x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" '
            f'y2="{bottom}"></line>'
        )
        if reference_label:
            out.append(svg_text(x, bottom + 32, reference_label, "c-axis-label", "middle"))
    for i, r in enumerate(rows):
        out += _estimate_row(r, top + i * row + row / 2, x_of, left, plot_w)
    if axis_label:
        out.append(svg_text(left + plot_w / 2, height - 6, axis_label, "c-axis-label", "middle"))
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text in it went through escape()


def _estimate_row(
    r: Estimate, y: float, x_of: Callable[[float], float], left: int, plot_w: int
) -> list[str]:
    """One row: its label, its interval as a band with whiskers, its dot and its note."""
    kind = f" s-{chart_id(r.kind)}" if r.kind else ""
    x1, x2, xv = x_of(r.low), x_of(r.high), x_of(r.value)
    out = [svg_text(left - 12, y + 4, r.label, "c-label", "end")]
    out.append(
        f'<rect class="c-band{kind}" x="{x1:.1f}" y="{y - 9:.1f}" '
        f'width="{max(1.0, x2 - x1):.1f}" height="18" rx="9"></rect>'
    )
    for x in (x1, x2):
        out.append(
            f'<line class="c-whisker{kind}" x1="{x:.1f}" y1="{y - 9:.1f}" x2="{x:.1f}" '
            f'y2="{y + 9:.1f}"></line>'
        )
    out.append(
        f'<line class="c-whisker{kind}" x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" '
        f'y2="{y:.1f}"></line>'
    )
    out.append(
        f'<circle class="c-estimate{kind}" cx="{xv:.1f}" cy="{y:.1f}" r="7">'
        f"<title>{escape(r.label)}: {escape(r.note)}</title></circle>"
    )
    out.append(svg_text(left + plot_w + 14, y + 4, r.note, "c-value"))
    return out
