"""`makegood report INCIDENT`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from makegood.kits.cli.context import AppContext, app_context
from makegood.kits.cli.errors import reports_errors

if TYPE_CHECKING:
    from makegood.reports.schemas import ReportOut


@reports_errors
def report(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            dir_okay=False,
            help="Also write the report as one self-contained HTML file with charts.",
        ),
    ] = None,
) -> None:
    """What an incident cost and what it bought: affected, excluded, held out, the
    funnel, delivery, claims and the claim rate, credits per currency and as a share
    of monthly revenue, time to apology, retention against the holdout group, and
    where its credits stand with each billing system they were pushed to.

    Prints the same object as GET /api/reports/INCIDENT with --json.
    """
    from makegood.reports import html as html_report
    from makegood.reports.schemas import ReportOut
    from makegood.reports.service import incident_report

    app_ = app_context(ctx)
    with app_.uow() as uow:
        found = incident_report(uow.session, incident_id, app_.now())
        data = ReportOut.of(found)
        if html is not None:
            html_report.write(found, html)
    app_.emit(data.model_dump(mode="json"), lambda: _show(app_, data, html))


def _show(app_: AppContext, r: ReportOut, html: Path | None) -> None:
    out = app_.out
    out.print(f"[bold]Incident {r.incident.id}[/bold]: {r.incident.title}", highlight=False)
    out.print(
        f"  affected: {r.affected.total} ({r.affected.confirmed} confirmed, "
        f"{r.affected.possible} possible)"
    )
    if r.campaign is None:
        out.print("  no campaign yet")
        return
    out.print(f"  campaign {r.campaign.id}: {r.campaign.status}")
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(r.excluded.by_reason.items()))
    out.print(f"  excluded: {r.excluded.total}" + (f" ({reasons})" if reasons else ""))
    out.print(f"  held out: {r.held_out}")
    for mode, by_status in sorted(r.offers.items()):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
        out.print(f"  {mode} offers: {counts}")
    sent = ", ".join(f"{k} {v}" for k, v in r.messages.items() if v)
    out.print(f"  messages: {sent or 'none'}")
    rate = "n/a" if r.claims.rate is None else f"{Decimal(r.claims.rate) * 100:.1f}%"
    out.print(f"  claims: {r.claims.claimed} of {r.claims.offered} ({rate})")
    for currency, c in r.credits.items():
        out.print(
            f"  credits {currency}: {c.net} net ({c.granted} granted, {c.claimed} claimed, "
            f"{c.reversed} reversed)"
        )
    d = r.delivery
    out.print(
        f"  apologies: {d.delivered} delivered of {d.notified} written "
        f"({d.failed} failed, {d.suppressed} suppressed, {d.bounced} bounced, "
        f"{d.pending} pending); {d.complained} complained, {d.opted_out} opted out"
    )
    for currency, cost in r.cost.items():
        share = cost.share_of_monthly_revenue
        shown = "n/a" if share is None else f"{Decimal(share) * 100:.2f}%"
        out.print(
            f"  cost {currency}: {cost.net} net of {cost.monthly_revenue} monthly revenue "
            f"({shown}); {cost.open_claims} still claimable"
        )
    t = r.time_to_apology
    if t.median_seconds is not None and t.to_last_seconds is not None:
        out.print(
            f"  time to apology: median {_span(t.median_seconds)}, "
            f"last {_span(t.to_last_seconds)} after the incident ended"
        )
    if r.retention is not None:
        out.print(f"  retention: {r.retention.message}", highlight=False)
    for sink, b in r.billing.items():
        out.print(
            f"  billing {sink}: {b.delivered} delivered, {b.pending} pending, {b.failed} failed"
        )
        for f in b.failures:
            out.print(f"    entry {f.entry_id} ({f.customer_id}): {f.reason}", markup=False)
    if r.corrections:
        for line in correction_lines(r.corrections):
            out.print(f"  {line}", markup=False, highlight=False)
    if html is not None:
        out.print(f"  HTML report written to {html}", highlight=False)


def correction_lines(c: dict[str, Any]) -> list[str]:
    """An amended incident's corrections, a line each (the HTML report says the same)."""
    lines = []
    for a in c["amendments"]:
        moved = ", ".join(f"{k} {a['before'][k]} -> {v}" for k, v in a["after"].items())
        lines.append(f"amended {a['at']} by {a['actor']}: {moved}")
    changes = c.get("changes")
    if changes:
        n = changes["counts"]
        lines.append(
            f"impacts since: {n['added']} newly affected, {n['removed']} no longer affected, "
            f"{n['magnitude']} with another magnitude, {n['confidence']} another confidence"
        )
    for f in c["follow_ups"]:
        by = f["corrections"]["by_action"]
        of = {a: sum(by[a].values()) for a in by}
        skipped = sum(by[a]["skipped"] for a in by)
        lines.append(
            f"follow-up campaign {f['campaign_id']} (round {f['round']}, {f['status']}): "
            f"{f['new_offers']['customers']} new offers {_totals(f['new_offers']['totals'])}, "
            f"{f['top_ups']['customers']} top-ups {_totals(f['top_ups']['totals'])}; earlier "
            f"offers: {of['keep']} kept, {by['close']['done']} of {of['close']} links closed, "
            f"{by['reverse']['done']} of {of['reverse']} credits reversed "
            f"{_totals(f['reversed'])}, {skipped} skipped (moved on since the plan); "
            f"{f['notices']} notices"
        )
    return lines


def _totals(totals: dict[str, str]) -> str:
    return "(" + ", ".join(f"{v} {c}" for c, v in totals.items()) + ")" if totals else ""


def _span(seconds: int) -> str:
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{sign}{hours}h{rest // 60:02d}m"
