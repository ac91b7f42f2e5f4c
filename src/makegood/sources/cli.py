from __future__ import annotations

from typing import Annotated

import typer

from makegood.core.words import counted
from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors
from makegood.kits.cli.output import literal, table
from makegood.sources.models import TABLES

app = typer.Typer(help="Usage data that impact rules read (CSV or Parquet).", no_args_is_help=True)


@app.command("add")
@reports_errors
def add(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help=f"One of: {', '.join(TABLES)}.")],
    path: Annotated[
        str, typer.Argument(help="A CSV or Parquet file, or a glob like 'events/*.parquet'.")
    ],
) -> None:
    """Point makegood at usage data; columns, types and every value are checked first.

    usage_events: customer_id,occurred_at,service,outcome,device,region
    shipments:    customer_id,order_id,due_at,shipped_at
    Instants must carry an offset or Z. Adding a table again replaces its path.
    """
    from makegood.sources.ports import SOURCE_CHECK
    from makegood.sources.service import add_source

    app = app_context(ctx)
    with app.uow() as uow:
        check = app.root.port(SOURCE_CHECK)
        added = add_source(uow.session, table, path, app.now(), app.actor, check=check)
        uow.commit()
    app.emit(
        {
            "table": added.table,
            "path": added.path,
            "format": added.format,
            "rows": added.rows,
            "replaced": added.replaced,
        },
        lambda: app.out.print(
            f"{added.table}: {counted(added.rows, 'row')} in {added.path} "
            f"({added.format})" + (f", replacing {added.replaced}" if added.replaced else ""),
            markup=False,  # a glob like [a-z]*.csv is a path, not a style
        ),
    )


@app.command("list")
@reports_errors
def list_(ctx: typer.Context) -> None:
    """Show the registered data sources."""
    from makegood.sources.service import list_sources

    app = app_context(ctx)
    with app.uow() as uow:
        sources = [
            {
                "table": s.table_name,
                "path": s.path,
                "format": s.format,
                "added_at": s.added_at.isoformat(),
            }
            for s in list_sources(uow.session)
        ]

    def human() -> None:
        shown = table("table", "format", "path", "added")
        for s in sources:
            shown.add_row(*map(literal, (s["table"], s["format"], s["path"], s["added_at"])))
        app.out.print(shown)

    app.emit({"sources": sources}, human)
