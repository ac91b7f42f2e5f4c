from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from makegood.core.words import counted
from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors

app = typer.Typer(help="Customers: the people makegood may owe an apology.", no_args_is_help=True)


@app.command("import")
@reports_errors
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="A .csv or .parquet file with the customers columns.")
    ],
) -> None:
    """Import customers from CSV or Parquet, all or nothing; re-imports update by customer_id.

    Columns: customer_id,email,first_name,locale,timezone,country,status,plan,
    monthly_price,currency,next_bill_date. Every row is checked before anything is
    written; every bad field is reported with its row and column.
    Prints {"imported": n, "updated": n} with --json.
    """
    from makegood.customers.reader import count_rows
    from makegood.customers.service import import_customers

    app = app_context(ctx)
    with (
        Progress(
            TextColumn("checking {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=app.err,
            disable=app.json or not app.err.is_terminal,
        ) as progress,
        app.uow() as uow,
    ):
        total = count_rows(file) if not progress.disable else 0
        task = progress.add_task(file.name, total=total or None)

        def advance(n: int) -> None:
            progress.update(task, advance=n)

        result = import_customers(uow.session, file, app.now(), advance, actor=app.actor)
        uow.commit()
    from makegood.customers.snapshot import refresh

    refresh(app.engine, app.settings.cache_dir)  # the next impact run reads it, not the table
    app.emit(
        {"imported": result.imported, "updated": result.updated},
        lambda: app.out.print(
            f"Imported {counted(result.imported, 'new customer')}, updated {result.updated:,}."
        ),
    )
