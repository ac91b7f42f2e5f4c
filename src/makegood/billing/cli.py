from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from makegood.core.words import counted
from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors

app = typer.Typer(help="Billing: hand credits to the billing system.", no_args_is_help=True)


@app.command("export")
@reports_errors
def export_(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="The file to write.")],
    format_: Annotated[
        str, typer.Option("--format", help="csv or jsonl, or a billing sink a plug-in adds.")
    ] = "csv",
    batch: Annotated[int | None, typer.Option(help="Write an earlier batch again.")] = None,
) -> None:
    """Export every ledger entry not exported yet, each exactly once.

    Columns: credit_id,customer_id,amount,currency,statement_date,incident_id,description;
    amounts in major units, reversals negative. --batch ID re-exports one batch.
    """
    from makegood.billing.ports import BILLING_SINKS
    from makegood.billing.service import export

    app_ = app_context(ctx)
    sink = app_.root.port(BILLING_SINKS).sink(format_)
    with app_.uow() as uow:
        result = export(uow.session, out, sink, app_.now(), app_.actor, batch)
        uow.commit()
    result.finish()
    app_.emit(
        {"exported": result.exported, "batch": result.batch_id, "path": str(out)},
        lambda: app_.out.print(
            f"Exported {counted(result.exported, 'entry', 'entries')} to {out}"
            + (f" (batch {result.batch_id})" if result.batch_id else ""),
            markup=False,  # the path is shown as it is, brackets and all
        ),
    )
