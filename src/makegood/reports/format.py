"""How the report shows numbers, money, percentages, waits and instants to people.
Money is grouped and shown in its own currency, never through a float."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from makegood.core.money import format_major
from makegood.reports.service import Cost, IncidentReport

REASONS = {
    "status": "Status: {}",
    "country": "Country: {}",
    "plan": "Plan: {}",
    "cause": "Cause: {}",
}
NAMED_REASONS = {
    "already_compensated": "Already compensated",
    "no_matching_rule": "No policy rule matched",
    "no_amount_for_currency": "No amount for their currency",
    "cap_reached": "Cap reached",
    "below_minimum": "Below the minimum credit",
}


def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def money(minor: int, currency: str) -> str:
    """1234567 USD -> "USD 12,345.67" (grouped, never through a float)."""
    text = format_major(minor, currency)
    sign = "-" if text.startswith("-") else ""
    whole, dot, cents = text.lstrip("-").partition(".")
    return f"{currency} {sign}{int(whole):,}{dot}{cents}"


def percent(part: int | None, whole: int | None, places: int = 1) -> str:
    """``part / whole`` as a percentage, rounded once, half up: (118, 365) -> "32.3%"."""
    if part is None or not whole:
        return "—"
    exact = Decimal(part) * 100 / Decimal(whole)
    return f"{exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)}%"


def revenue_share(c: Cost) -> str:
    """Net credit as a percentage of the monthly revenue, two places."""
    return percent(c.net, c.monthly_revenue, 2)


def duration(span: timedelta | None) -> str:
    """A wait as people say it: "45 min", "13 h 20 min", "2 d 4 h"."""
    if span is None:
        return "—"
    seconds = int(span.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min"
    return f"{sign}{seconds} s"


def when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%a %d %b %Y, %H:%M UTC")


def window(report: IncidentReport) -> str:
    start, end = report.incident.start_at, report.incident.end_at
    if end is None:
        return f"from {when(start)}, still open"
    if start.date() == end.date():
        return f"{when(start).removesuffix(' UTC')}–{end:%H:%M} UTC ({duration(end - start)})"
    return f"{when(start)} – {when(end)} ({duration(end - start)})"


def reason(code: str) -> str:
    kind, _, value = code.partition(":")
    if value and kind in REASONS:
        return REASONS[kind].format(value)
    return NAMED_REASONS.get(code, code.replace("_", " ").capitalize())
