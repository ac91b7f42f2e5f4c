from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from makegood.entrypoints.context import app_context
from makegood.entrypoints.errors import reports_errors


@reports_errors
def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Option(
            "--dir",
            help="Where the demo writes its data and SQLite database (rebuilt on each run).",
        ),
    ] = Path("makegood-demo"),
) -> None:
    """Walk both seed cases end to end on generated data.

    A shipping outage over most of a Monday (late orders: confirmed harm, 5% credited
    automatically) and a streaming failure one evening (errors: confirmed; regular
    viewers who did not watch: possible; 2% claimable for 7 days). Plans, approves and
    executes both, lets a third of the claim links be claimed, sends every apology to
    the built-in mailbox over SMTP (kept as .eml files), and exports the credits for
    billing.
    """
    from makegood.demo.walkthrough import run_demo

    app = app_context(ctx)
    result = run_demo(directory)
    data = {
        "directory": str(result.directory),
        "database": result.database_url,
        "customers": result.customers,
        "incidents": result.incidents,
        "billing": result.billing,
        "mail": result.mail,
    }

    def human() -> None:
        app.out.print(
            f"Generated {result.customers} customers with usage and shipments in "
            f"{result.directory}/data; database {result.database_url}\n"
        )
        table = Table("incident", "service", "window (UTC)", "confirmed", "possible")
        for inc in result.incidents:
            table.add_row(
                f"{inc['id']}: {inc['title']}",
                inc["service"],
                f"{inc['start']} – {inc['end']}",
                str(inc["confirmed"]),
                str(inc["possible"]),
            )
        app.out.print(table)
        for inc in result.incidents:
            app.out.print(
                f"\n[bold]Incident {inc['id']}[/bold] — first impacts and their evidence:"
            )
            for s in inc["sample"]:
                app.out.print(
                    f"  {s['customer_id']} {s['confidence']} (magnitude "
                    f"{s['magnitude']}, {s['rule']}): {s['evidence']}"
                )
        remedy = Table(
            "incident",
            "offers",
            "excluded",
            "granted",
            "claim links",
            "claimed",
            "messages",
            "totals",
            title="what the seed policy gave",
        )
        for inc in result.incidents:
            remedy.add_row(
                str(inc["id"]),
                str(inc["offers"]),
                str(inc["excluded"]),
                str(inc["granted"]),
                str(inc["offered"]),
                str(inc["claimed"]),
                str(inc["messages"]),
                ", ".join(f"{v} {c}" for c, v in inc["totals"].items()),
            )
        app.out.print(remedy)
        app.out.print(
            f"Apologies sent over SMTP: {result.mail['sent']} (failed {result.mail['failed']}); "
            f"read them in {result.mail['mailbox']} (index.jsonl lists every .eml)"
        )
        app.out.print(
            f"Billing export: {result.billing['exported']} credit(s) in {result.billing['path']}"
        )
        app.out.print(f"\nExplore with: makegood --database {result.database_url} campaigns show 2")

    app.emit(data, human)
