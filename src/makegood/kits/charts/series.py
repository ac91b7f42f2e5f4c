"""Charts for the console, drawn on the server as SVG.

No JavaScript and no inline styles (the console's Content-Security-Policy forbids
both): shapes carry classes that console.css colours. Every chart has a <title>
and a <desc> for screen readers, axes with labelled ticks, and its numbers as text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

WIDTH = 640
# Bucket widths a time chart may use, in seconds: the smallest that keeps a series
# under MAX_BUCKETS bars wins.
STEPS = (
    1,
    5,
    10,
    30,
    60,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
)
MAX_BUCKETS = 48

Format = Callable[[int], str]


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    kind: str = ""  # an extra class, so related bars share a colour
    note: str = ""  # the value as shown beside the bar (the formatted value if empty)


@dataclass(frozen=True)
class Series:
    """Counts per bucket: bucket ``i`` covers [start + i*step, start + (i+1)*step)."""

    start: datetime
    step: timedelta
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def end(self) -> datetime:
        return self.start + self.step * len(self.counts)


def padded(series: Series, minimum: int = 12) -> Series:
    """A short series with an empty bucket before it and empty ones after, so a burst
    reads as a burst rather than as a line from corner to corner."""
    if len(series.counts) >= minimum:
        return series
    after = minimum - len(series.counts) - 1
    return Series(series.start - series.step, series.step, (0, *series.counts) + (0,) * after)


def pick_step(span_seconds: float) -> int:
    for step in STEPS:
        if span_seconds / step < MAX_BUCKETS:
            return step
    return STEPS[-1] * math.ceil(span_seconds / (STEPS[-1] * MAX_BUCKETS))


def bucket_origin(first: datetime, step: int) -> datetime:
    """``first`` rounded down to a multiple of ``step`` seconds since the epoch."""
    epoch = int(first.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, UTC)


def compact(value: int) -> str:
    """12 -> "12", 12_300 -> "12.3k", 4_500_000 -> "4.5M"."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= size:
            text = f"{value / size:.1f}".removesuffix(".0")
            return text + suffix
    return str(value)


def nice_ticks(top: int, count: int = 4) -> list[int]:
    """Round tick values from 0 to at least ``top``: steps of 1, 2 or 5 times 10^k."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(
        (m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw),
        10 * magnitude,
    )
    step = max(1, int(step))
    last = math.ceil(top / step) * step
    return list(range(0, last + 1, step))


def chart_id(key: str) -> str:
    """A key as it can stand in an id or a class name ("s-held-out")."""
    return re.sub(r"[^a-z0-9-]+", "-", key.lower()).strip("-") or "chart"


def svg_open(key: str, height: int, title: str, desc: str, width: int = WIDTH) -> list[str]:
    """The opening of a chart: its <svg> with its <title> and <desc> for screen readers."""
    slug = chart_id(key)
    return [
        f'<svg class="svg-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{slug}-title {slug}-desc" xmlns="http://www.w3.org/2000/svg" '
        'preserveAspectRatio="xMidYMid meet">',
        f'<title id="{slug}-title">{escape(title)}</title>',
        f'<desc id="{slug}-desc">{escape(desc)}</desc>',
    ]


def svg_text(x: float, y: float, text: str, cls: str, anchor: str = "start") -> str:
    """One escaped <text> at (x, y) with a class that console.css styles."""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def bar_chart(
    bars: Sequence[Bar],
    *,
    key: str,
    title: str,
    desc: str,
    fmt: Format = compact,
    axis_label: str = "",
    width: int = 960,
) -> Markup:
    """Horizontal bars, one per category, on a shared axis that starts at zero."""
    left, right, top, row = 180, 150, 8, 34
    axis_gap = 44 if axis_label else 28
    height = top + row * max(1, len(bars)) + axis_gap
    plot_w = width - left - right
    ticks = nice_ticks(max((b.value for b in bars), default=0))
    scale = plot_w / ticks[-1]
    bottom = top + row * max(1, len(bars))
    out = svg_open(key, height, title, desc, width)
    for tick in ticks:
        x = left + tick * scale
        out.append(
            f'<line class="c-grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"></line>'
        )
        out.append(svg_text(x, bottom + 16, fmt(tick), "c-tick", "middle"))
    out.append(f'<line class="c-axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"></line>')
    for i, bar in enumerate(bars):
        y = top + i * row
        length = max(0.0, bar.value * scale)
        kind = f" s-{chart_id(bar.kind)}" if bar.kind else ""
        out.append(svg_text(left - 10, y + row / 2 + 4, bar.label, "c-label", "end"))
        out.append(
            f'<rect class="c-bar{kind}" x="{left}" y="{y + 7}" width="{length:.1f}" '
            f'height="{row - 14}" rx="3"><title>{escape(bar.label)}: '
            f"{escape(bar.note or fmt(bar.value))}</title></rect>"
        )
        out.append(
            svg_text(left + length + 8, y + row / 2 + 4, bar.note or fmt(bar.value), "c-value")
        )
    if axis_label:
        out.append(svg_text(left + plot_w / 2, height - 6, axis_label, "c-axis-label", "middle"))
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text in it went through escape()


@dataclass(frozen=True)
class Segment:
    kind: str  # a class, so each state keeps its colour across rows
    label: str
    value: int
    note: str  # the value as people read it, for the tooltip and the description


@dataclass(frozen=True)
class Stack:
    label: str
    segments: tuple[Segment, ...]
    note: str = ""  # shown at the end of the row


def share_chart(rows: Sequence[Stack], *, key: str, title: str, desc: str) -> Markup:
    """One 100% bar per row (for amounts that cannot share an axis, such as money in
    different currencies), split by kind, with a legend of the kinds present."""
    width, left, right, row = 960, 70, 250, 40
    top = 38
    plot_w = width - left - right
    height = top + row * max(1, len(rows)) + 30
    bottom = top + row * max(1, len(rows))
    out = svg_open(key, height, title, desc, width)
    kinds: dict[str, str] = {}
    for stack in rows:
        for seg in stack.segments:
            kinds.setdefault(seg.kind, seg.label)
    x: float = left
    for kind, label in kinds.items():
        out.append(
            f'<rect class="c-bar s-{chart_id(kind)}" x="{x:.1f}" y="8" width="12" height="12" '
            'rx="2"></rect>'
        )
        out.append(svg_text(x + 18, 18.5, label, "c-legend"))
        x += 36 + 7.2 * len(label)
    for tick in (0, 25, 50, 75, 100):
        gx = left + plot_w * tick / 100
        out.append(
            f'<line class="c-grid" x1="{gx:.1f}" y1="{top}" x2="{gx:.1f}" y2="{bottom}"></line>'
        )
        out.append(svg_text(gx, bottom + 16, f"{tick}%", "c-tick", "middle"))
    for i, stack in enumerate(rows):
        y = top + i * row
        total = sum(seg.value for seg in stack.segments)
        out.append(svg_text(left - 12, y + row / 2 + 5, stack.label, "c-label", "end"))
        x = left
        for seg in stack.segments:
            share = seg.value / total if total else 0.0
            length = plot_w * share
            if length <= 0:
                continue
            out.append(
                f'<rect class="c-bar s-{chart_id(seg.kind)}" x="{x:.1f}" y="{y + 8}" '
                f'width="{length:.1f}" height="{row - 16}"><title>{escape(stack.label)} · '
                f"{escape(seg.label)}: {escape(seg.note)} ({share:.0%})</title></rect>"
            )
            if length > 44:
                out.append(
                    svg_text(x + length / 2, y + row / 2 + 4, f"{share:.0%}", "c-inbar", "middle")
                )
            x += length
        out.append(svg_text(left + plot_w + 12, y + row / 2 + 5, stack.note, "c-value"))
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text in it went through escape()


def _time_label(moment: datetime, step: timedelta, same_day: bool) -> tuple[str, str]:
    """A tick's label: its time, and under it the day when the chart spans several."""
    moment = moment.astimezone(UTC)
    if step >= timedelta(days=1):
        return moment.strftime("%d %b"), ""
    clock = moment.strftime("%H:%M:%S" if step < timedelta(minutes=1) else "%H:%M")
    return clock, "" if same_day else moment.strftime("%d %b")


def time_chart(
    series: Series,
    *,
    key: str,
    title: str,
    desc: str,
    cumulative: bool = False,
    y_label: str = "",
) -> Markup:
    """Counts over time: bars per bucket, or a filled line of the running total."""
    left, right, top, bottom_gap = 64, 36, 14, 58
    height = 246
    plot_w, plot_h = WIDTH - left - right, height - top - bottom_gap
    bottom = top + plot_h
    counts = list(series.counts) or [0]
    values = list(_running(counts)) if cumulative else counts
    ticks = nice_ticks(max(values), 4)
    y_scale = plot_h / ticks[-1]
    slot = plot_w / len(counts)
    out = svg_open(key, height, title, desc)
    for tick in ticks:
        y = bottom - tick * y_scale
        out.append(
            f'<line class="c-grid" x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" '
            f'y2="{y:.1f}"></line>'
        )
        out.append(svg_text(left - 8, y + 4, compact(tick), "c-tick", "end"))
    if y_label:
        out.append(
            f'<text class="c-axis-label" text-anchor="middle" '
            f'transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)">{escape(y_label)}</text>'
        )
    if cumulative:
        out += _running_line(values, left, bottom, slot, y_scale)
    else:
        out += _count_bars(series, counts, left, bottom, slot, y_scale)
    out.append(
        f'<line class="c-axis" x1="{left}" y1="{bottom}" x2="{WIDTH - right}" y2="{bottom}"></line>'
    )
    same_day = series.start.date() == (series.end - timedelta(seconds=1)).date()
    out += _time_ticks(series, len(counts), left, bottom, slot, same_day)
    zone = "UTC" if not same_day else f"{series.start.strftime('%d %b %Y')}, UTC"
    out.append(svg_text(WIDTH - right, height - 6, zone, "c-axis-label", "end"))
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text in it went through escape()


def _running_line(
    values: Sequence[int], left: int, bottom: int, slot: float, y_scale: float
) -> list[str]:
    """The running total as a filled area under a line, with a dot at its end."""
    points: list[tuple[float, float]] = [(left, bottom)]
    for i, value in enumerate(values):
        points.append((left + (i + 1) * slot, bottom - value * y_scale))
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    area = f"{line} {left + len(values) * slot:.1f},{bottom} {left},{bottom}"
    x, y = points[-1]
    return [
        f'<polygon class="c-area" points="{area}"></polygon>',
        f'<polyline class="c-line" points="{line}"></polyline>',
        f'<circle class="c-dot" cx="{x:.1f}" cy="{y:.1f}" r="4"></circle>',
    ]


def _count_bars(
    series: Series, counts: Sequence[int], left: int, bottom: int, slot: float, y_scale: float
) -> list[str]:
    """One bar per non-empty bucket, its time and count in its tooltip."""
    out = []
    gap = min(6.0, slot * 0.2)
    for i, value in enumerate(counts):
        if not value:
            continue
        x = left + i * slot + gap / 2
        h = value * y_scale
        moment = series.start + series.step * i
        out.append(
            f'<rect class="c-bar" x="{x:.1f}" y="{bottom - h:.1f}" '
            f'width="{max(1.0, slot - gap):.1f}" height="{h:.1f}" rx="2">'
            f"<title>{escape(moment.strftime('%Y-%m-%d %H:%M:%S'))} UTC: {value:,}</title>"
            "</rect>"
        )
    return out


def _time_ticks(
    series: Series, buckets: int, left: int, bottom: int, slot: float, same_day: bool
) -> list[str]:
    """About six ticks along the time axis, each with its time (and day if needed)."""
    out = []
    every = max(1, math.ceil(buckets / 6))
    for i in range(0, buckets + 1, every):
        x = left + i * slot
        label, day = _time_label(series.start + series.step * i, series.step, same_day)
        out.append(
            f'<line class="c-axis" x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" '
            f'y2="{bottom + 4}"></line>'
        )
        out.append(svg_text(x, bottom + 17, label, "c-tick", "middle"))
        if day:
            out.append(svg_text(x, bottom + 30, day, "c-tick", "middle"))
    return out


def _running(values: Sequence[int]) -> list[int]:
    total, out = 0, []
    for value in values:
        total += value
        out.append(total)
    return out
