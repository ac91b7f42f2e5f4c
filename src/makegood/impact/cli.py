from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from makegood.core.words import counted
from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors

if TYPE_CHECKING:
    from makegood.impact.service import RunReport

app = typer.Typer(help="Impact: who an incident hurt, and how sure we are.", no_args_is_help=True)


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    rule: Annotated[
        list[Path] | None,
        typer.Option(
            help="A custom SQL rule file (repeatable); :start, :end, :now and :services are bound."
        ),
    ] = None,
    builtin: Annotated[
        bool,
        typer.Option(
            help="Also run the built-in rules (late_shipment, failed_usage, habitual_usage)."
        ),
    ] = True,
    engine: Annotated[
        str | None,
        typer.Option(
            help="Where the rules run: an installed impact engine (duckdb; spark, with "
            "makegood\\[spark] and the \\[spark] settings; or one a plug-in adds); default: the "
            "impact_engine setting."
        ),
    ] = None,
) -> None:
    """Find the customers an incident affected and store one impact per customer.

    Built-in rules: late_shipment for the shipping service; failed_usage (an error in
    the window: confirmed) and habitual_usage (no use in the window, but use in at
    least 2 of the same windows 1-4 weeks earlier, in the customer's local time:
    possible) for every other service. Re-running replaces the incident's impacts,
    unless a campaign for it was executed. Prints {"confirmed": n, "possible": n}.

    After `makegood incidents amend`, a run may replace impacts a campaign was executed
    from, and says who is newly, no longer or differently affected ("changes" in --json).

    On Spark (--engine spark), the same rules run translated to Spark SQL over the
    sources' paths, on the master the \\[spark] settings name (local[*], spark://...,
    sc://...); the seconds Spark took to start are reported as spark_start.
    """
    from makegood.impact.service import run_for

    app = app_context(ctx)
    with app.uow() as uow, app.err.status(f"Finding who incident {incident_id} hurt..."):
        report = run_for(
            app.root, uow.session, incident_id, app.now(), app.actor, rule or [], builtin, engine
        )
        uow.commit()
    app.emit(
        {
            "incident": report.incident_id,
            "confirmed": report.confirmed,
            "possible": report.possible,
            "unknown_customers": report.unknown_customers,
            "rules": report.rules,
            "seconds": report.seconds,
            "changes": report.changes,
        },
        lambda: app.out.print(_summary(report)),
    )


def _summary(report: RunReport) -> str:
    started = report.seconds.get("spark_start")
    spark = f", Spark started in {started:.1f} s" if started else ""
    changed = ""
    if report.changes is not None:
        c = report.changes
        changed = (
            f"\nSince the amendment: {c['added']} newly affected, {c['removed']} no longer "
            f"affected, {c['magnitude']} with a different magnitude, {c['confidence']} with a "
            f"different confidence. Next: makegood campaigns plan {report.incident_id} "
            "--policy FILE makes a follow-up campaign."
        )
    return (
        f"Incident {report.incident_id}: {report.confirmed} confirmed, "
        f"{report.possible} possible (rules: {', '.join(report.rules) or 'none'}; "
        f"{counted(report.unknown_customers, 'unknown customer id')} skipped; "
        f"{report.seconds['total']:.2f} s{spark})" + changed
    )
