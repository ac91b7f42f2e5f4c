"""The report's charts, drawn on the server as inline SVG with the console's chart
functions. Each returns None when there is nothing to draw."""

from __future__ import annotations

from decimal import Decimal

from markupsafe import Markup

from makegood.kits.charts.interval import Estimate, interval_chart
from makegood.kits.charts.series import (
    Bar,
    Segment,
    Stack,
    bar_chart,
    padded,
    share_chart,
    time_chart,
)
from makegood.reports.format import money, number, percent, reason, revenue_share
from makegood.reports.retention import Retention
from makegood.reports.rules import signed, wilson
from makegood.reports.service import IncidentReport


def charts(r: IncidentReport) -> dict[str, Markup | None]:
    return {
        "funnel": _funnel(r),
        "claims": _claims(r),
        "apologies": _apologies(r),
        "cost": _cost(r),
        "retention": _retention_groups(r.retention),
        "difference": _retention_difference(r.retention),
        "excluded": _excluded(r),
        "delivery": _delivery(r),
    }


def _funnel(r: IncidentReport) -> Markup | None:
    if not r.funnel or not r.funnel[0].customers:
        return None
    top = r.funnel[0].customers
    bars = [
        Bar(
            s.label,
            s.customers,
            s.key,
            f"{number(s.customers)} · {percent(s.customers, top)}",
        )
        for s in r.funnel
    ]
    return bar_chart(
        bars,
        key="report-funnel",
        title="From harm to credit",
        desc="Customers at each step, with the share of those affected: "
        + "; ".join(f"{b.label} {b.note}" for b in bars)
        + ".",
        axis_label="customers",
    )


def _claims(r: IncidentReport) -> Markup | None:
    series = r.claims_over_time
    if series is None:
        return None
    return time_chart(
        padded(series),
        key="report-claims",
        title="Claims over time",
        desc=f"{number(series.total)} claims of {number(r.claims.offered)} links, running "
        f"total from {series.start:%Y-%m-%d %H:%M} UTC.",
        cumulative=True,
        y_label="claims (running total)",
    )


def _apologies(r: IncidentReport) -> Markup | None:
    series = r.time_to_apology.over_time
    if series is None:
        return None
    return time_chart(
        padded(series),
        key="report-apologies",
        title="Customers apologised to",
        desc=f"{number(series.total)} customers whose apology the mail relay accepted, "
        f"running total from {series.start:%Y-%m-%d %H:%M} UTC.",
        cumulative=True,
        y_label="customers reached",
    )


def _cost(r: IncidentReport) -> Markup | None:
    rows = [c for c in r.costs if c.monthly_revenue]
    if not rows or not any(c.net for c in rows):
        return None
    # Millionths of monthly revenue: an integer axis that shares across currencies.
    bars = [
        Bar(
            c.currency,
            int(Decimal(c.net) * 1_000_000 / c.monthly_revenue),
            "cost",
            f"{money(c.net, c.currency)} · {revenue_share(c)}",
        )
        for c in rows
    ]
    return bar_chart(
        bars,
        key="report-cost",
        title="Net credit as a share of monthly revenue",
        desc="Per currency, net credit over the affected customers' monthly revenue: "
        + "; ".join(f"{b.label} {b.note}" for b in bars)
        + ".",
        fmt=_millionths,
        axis_label="share of the affected customers' monthly revenue",
    )


def _millionths(value: int) -> str:
    return f"{Decimal(value) / 10_000:.2f}".rstrip("0").rstrip(".") + "%"


def _retention_groups(ret: Retention | None) -> Markup | None:
    if ret is None or ret.difference is None or ret.apologised is None or ret.held_out is None:
        return None
    rows = []
    for label, group, kind in (
        ("Apologised to", ret.apologised, "treated"),
        ("Held out", ret.held_out, "control"),
    ):
        active = group.active or 0
        low, high = wilson(active, group.customers)
        share = active / group.customers
        rows.append(
            Estimate(
                label,
                share,
                low,
                high,
                # Short enough for the chart's margin in any font; the table under
                # the chart gives the counts.
                f"{percent(active, group.customers)} active",
                kind,
            )
        )
    return interval_chart(
        rows,
        key="report-retention",
        title="Share still active",
        desc="Share of each group still active, with 95% Wilson score intervals: "
        + "; ".join(
            f"{e.label} {e.value * 100:.1f}% ({e.low * 100:.1f}% to {e.high * 100:.1f}%)"
            for e in rows
        )
        + ".",
        fmt=lambda v: (
            f"{v * 100:.0f}%" if abs(v * 100 - round(v * 100)) < 1e-6 else f"{v * 100:.1f}%"
        ),
        axis_label="share still active (dot) with its 95% interval (band)",
    )


def _retention_difference(ret: Retention | None) -> Markup | None:
    if ret is None or ret.difference is None:
        return None
    d = ret.difference
    kind = "neutral" if d.includes_zero else ("good" if d.low > 0 else "bad")
    # Only the estimate beside the row: with its interval the note outgrew the chart's
    # margin and was cut. The page states the interval on a line of its own.
    row = Estimate(
        "Difference", d.value * 100, d.low * 100, d.high * 100, f"{signed(d.value)} pts", kind
    )
    return interval_chart(
        [row],
        key="report-difference",
        title="Difference in retention",
        desc=f"Apologised-to minus held-out share active: {interval_note(ret)}, by the "
        f"{ret.method}.",
        fmt=lambda v: f"{v:+.0f}" if v else "0",
        reference=0.0,
        reference_label="no difference",
        axis_label="percentage points (apologised to minus held out)",
    )


def interval_note(ret: Retention) -> str:
    """The retention difference and its interval in words, for a line of its own."""
    d = ret.difference
    if d is None:
        return ""
    return f"{signed(d.value)} points, 95% interval {signed(d.low)} to {signed(d.high)} points"


def _excluded(r: IncidentReport) -> Markup | None:
    bars = [
        Bar(reason(code), n, "excluded")
        for code, n in sorted(r.excluded.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    if r.held_out:
        bars.append(Bar("Held out (control group)", r.held_out, "held-out"))
    if not bars:
        return None
    return bar_chart(
        bars,
        key="report-excluded",
        title="Who got nothing, and why",
        desc="Customers the policy gave nothing, by reason, and the holdout group: "
        + "; ".join(f"{b.label} {b.value:,}" for b in bars)
        + ".",
        axis_label="customers",
    )


def _delivery(r: IncidentReport) -> Markup | None:
    d = r.delivery
    if not d.notified:
        return None
    segments = tuple(
        Segment(kind, label, n, f"{n:,} customers")
        for kind, label, n in (
            ("delivered", "Delivered", d.delivered),
            ("pending", "Still going", d.pending),
            ("failed", "Failed", d.failed),
            ("suppressed", "Suppressed", d.suppressed),
            ("bounced", "Bounced", d.bounced),
        )
        if n
    )
    return share_chart(
        [Stack("Apologies", segments, f"{d.delivered:,} of {d.notified:,} delivered")],
        key="report-delivery",
        title="What became of the apologies",
        desc="; ".join(f"{s.label} {s.note}" for s in segments) + ".",
    )
