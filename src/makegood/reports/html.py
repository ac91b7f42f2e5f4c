"""The incident report as one self-contained HTML file: inline CSS, inline SVG charts,
no scripts, nothing fetched from anywhere. Every text from the records is escaped
(the template autoescapes; the charts escape their own text).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from makegood.reports.figures import charts, interval_note
from makegood.reports.format import (
    duration,
    money,
    number,
    percent,
    revenue_share,
    when,
    window,
)
from makegood.reports.retention import Retention
from makegood.reports.rules import signed
from makegood.reports.service import Cost, IncidentReport

env = Environment(
    loader=PackageLoader("makegood.reports", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    note: str
    tone: str = ""  # good | bad | wait: colours the value


def render(report: IncidentReport) -> str:
    """The report as an HTML document."""
    return env.get_template("report.html").render(
        r=report,
        title=report.incident.title,
        tiles=tiles(report),
        lede=lede(report),
        charts=charts(report),
        costs=[cost_row(report, c) for c in report.costs],
        window=window(report),
        open_links=report.offers.get("claim", {}).get("offered", 0),
        interval_note=interval_note,
        ago=duration,
        when=when,
        number=number,
        percent=percent,
    )


def write(report: IncidentReport, path: Path) -> None:
    path.write_text(render(report), encoding="utf-8")


# ---------------------------------------------------------------- words and figures


def tiles(r: IncidentReport) -> list[Tile]:
    affected = sum(r.affected.values())
    d, t = r.delivery, r.time_to_apology
    found = [
        Tile(
            "Customers affected",
            number(affected),
            f"{number(r.affected.get('confirmed', 0))} confirmed · "
            f"{number(r.affected.get('possible', 0))} possible",
        ),
        Tile(
            "Apologies delivered",
            number(d.delivered),
            f"{percent(d.delivered, d.notified)} of {number(d.notified)} written"
            + (
                f" · {number(d.failed + d.suppressed + d.bounced)} undeliverable"
                if d.failed + d.suppressed + d.bounced
                else ""
            )
            + (f" · {number(d.pending)} still going" if d.pending else ""),
        ),
        Tile(
            "Time to apology",
            duration(t.median),
            "median per customer after the incident ended"
            + (f" · all out by {duration(t.to_last)}" if t.to_last is not None else ""),
        ),
    ]
    if r.claims.offered:
        found.append(
            Tile(
                "Claim rate",
                percent(r.claims.claimed, r.claims.offered),
                f"{number(r.claims.claimed)} of {number(r.claims.offered)} claim links used",
            )
        )
    granted = next((s.customers for s in r.funnel if s.key == "granted"), None)
    if granted is not None:
        found.append(
            Tile("Credited automatically", number(granted), "nothing for the customer to do")
        )
    found.append(_cost_tile(r.costs))
    found.append(_retention_tile(r.retention))
    return found


def _cost_tile(costs: list[Cost]) -> Tile:
    spent = [c for c in costs if c.net]
    if not spent:
        return Tile("Net credit", "—", "nothing credited yet")
    if len(spent) == 1:
        c = spent[0]
        return Tile(
            "Net credit",
            money(c.net, c.currency),
            f"{revenue_share(c)} of these customers' monthly revenue",
        )
    ranked = sorted(
        (c for c in spent if c.monthly_revenue), key=lambda c: Decimal(c.net) / c.monthly_revenue
    )
    low, high = (revenue_share(ranked[0]), revenue_share(ranked[-1])) if ranked else ("—", "—")
    value = low if low == high else f"{low.removesuffix('%')}–{high}"
    return Tile(
        "Net credit",
        value,
        f"of these customers' monthly revenue, in each of {len(spent)} currencies",
    )


def _retention_tile(ret: Retention | None) -> Tile:
    if ret is None or ret.difference is None:
        waiting = ret is not None and ret.state == "no_later_import"
        return Tile(
            "Retention vs holdout",
            "Waiting" if waiting else "—",
            "import later customer statuses to measure"
            if waiting
            else "no holdout group to compare with",
            "wait",
        )
    d = ret.difference
    tone = "" if d.includes_zero else ("good" if d.low > 0 else "bad")
    return Tile(
        "Retention vs holdout",
        f"{signed(d.value)} pts",
        f"95% interval {signed(d.low)} to {signed(d.high)} points · "
        + ("not significant at this size" if d.includes_zero else "significant"),
        tone,
    )


def lede(r: IncidentReport) -> str:
    """The whole story in three or four sentences."""
    affected = sum(r.affected.values())
    service = " and ".join(r.incident.services)
    parts = [
        f"The {service} incident hurt {number(affected)} customers "
        f"({number(r.affected.get('confirmed', 0))} for certain, "
        f"{number(r.affected.get('possible', 0))} possibly)."
    ]
    if r.campaign is None:
        parts.append("No remedy has been planned yet.")
        return " ".join(parts)
    offered = next((s.customers for s in r.funnel if s.key == "offered"), 0)
    t = r.time_to_apology
    sentence = (
        f"{number(offered)} were offered a remedy and {number(r.delivery.delivered)} "
        "had their apology delivered"
    )
    if t.median is not None:
        sentence += f", half of them within {duration(t.median)} of the end of the incident"
    parts.append(sentence + ".")
    if r.claims.offered:
        parts.append(
            f"{number(r.claims.claimed)} claimed their credit "
            f"({percent(r.claims.claimed, r.claims.offered)} of the links)."
        )
    spent = [c for c in r.costs if c.net]
    if len(spent) == 1:
        c = spent[0]
        parts.append(
            f"Net credit came to {money(c.net, c.currency)}, {revenue_share(c)} of a "
            "month's revenue from these customers."
        )
    elif spent:
        parts.append(
            f"Net credit, in {len(spent)} currencies, came to "
            f"{_cost_tile(spent).value} of a month's revenue from these customers."
        )
    if r.retention is not None and r.retention.difference is not None:
        parts.append(r.retention.message)
    return " ".join(parts)


def cost_row(r: IncidentReport, c: Cost) -> dict[str, str]:
    credits = r.credits.get(c.currency)
    return {
        "currency": c.currency,
        "customers": number(c.customers),
        "granted": money(credits.granted if credits else 0, c.currency),
        "claimed": money(credits.claimed if credits else 0, c.currency),
        "reversed": money(credits.reversed if credits else 0, c.currency),
        "net": money(c.net, c.currency),
        "open": money(c.open_claims, c.currency),
        "revenue": money(c.monthly_revenue, c.currency),
        "share": revenue_share(c),
    }
