"""The `makegood` command: global options, then one group per domain."""

from __future__ import annotations

from typing import Annotated

import typer

from makegood.access.cli import app as keys_app
from makegood.audit.cli import audit
from makegood.billing.cli import app as billing_app
from makegood.campaigns.cli import app as campaigns_app
from makegood.console.cli import app as users_app
from makegood.core.clock import parse_instant
from makegood.core.errors import InvalidInputError, MakegoodError
from makegood.credits.cli import app as credits_app
from makegood.customers.cli import app as customers_app
from makegood.db import migrate
from makegood.demo.cli import demo
from makegood.entrypoints.bootstrap import AppContext, load_settings
from makegood.entrypoints.context import app_context
from makegood.entrypoints.errors import reports_errors, show_error
from makegood.impact.cli import app as impact_app
from makegood.incidents.cli import app as incidents_app
from makegood.messaging.cli import mailbox, send, worker
from makegood.reports.cli import report
from makegood.sources.cli import app as sources_app

app = typer.Typer(
    name="makegood",
    help="Proactive service recovery: find who an incident hurt, decide what each is owed, "
    "apologise and credit them exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(customers_app, name="customers")
app.add_typer(sources_app, name="sources")
app.add_typer(incidents_app, name="incidents")
app.add_typer(impact_app, name="impact")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(credits_app, name="credits")
app.add_typer(billing_app, name="billing")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.command("send")(send)
app.command("worker")(worker)
app.command("mailbox")(mailbox)
app.command("demo")(demo)
app.command("report")(report)
app.command("audit")(audit)


@app.callback()
def root(
    ctx: typer.Context,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="SQLAlchemy URL; default sqlite:///makegood.db (env MAKEGOOD_DATABASE_URL).",
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now", help="Act as if it were this instant (ISO-8601 with offset; env MAKEGOOD_NOW)."
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of text.")
    ] = False,
) -> None:
    """Settings come from makegood.toml, then MAKEGOOD_* variables, then these options."""
    try:
        if now is not None:
            try:
                parse_instant(now, "--now")
            except ValueError as exc:
                raise InvalidInputError(str(exc)) from None
        settings = load_settings(database_url=database, now=now)
    except MakegoodError as exc:
        show_error(exc, json_output)
        raise typer.Exit(1) from None
    ctx.obj = AppContext(settings=settings, json=json_output)


@app.command("init")
@reports_errors
def init(ctx: typer.Context) -> None:
    """Create the database or migrate it to the newest schema (safe to run again)."""
    app_ = app_context(ctx)
    before, after = migrate.upgrade(app_.engine)
    url = app_.engine.url.render_as_string(hide_password=True)
    app_.emit(
        {"database": url, "schema_before": before, "schema": after},
        lambda: app_.out.print(
            f"Database {url} is at schema {after}"
            + ("" if before == after else f" (was {before or 'empty'})")
        ),
    )


@app.command("serve")
@reports_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Server processes (PostgreSQL only; SQLite takes one).")
    ] = 1,
    with_worker: Annotated[
        bool,
        typer.Option(
            "--with-worker",
            help="Also send queued apologies from inside the server (MAKEGOOD_SMTP_URL), "
            "as `makegood worker` would: for the embedded setup.",
        ),
    ] = False,
) -> None:
    """Serve the claim pages and the operators' API (docs at /api/docs)."""
    import uvicorn

    from makegood.entrypoints.app import create_app, settled

    app_ = app_context(ctx)
    app_.uow()  # refuses to start on a database that needs `makegood init`
    if workers > 1 and app_.engine.dialect.name == "sqlite":
        raise InvalidInputError("--workers: SQLite is served by one process; use PostgreSQL")
    if with_worker and workers > 1:
        raise InvalidInputError(
            "--with-worker: takes one server process; beside several, run `makegood worker`"
        )
    app_.err.print(
        f"makegood serving on http://{host}:{port} (claim pages at /claim/..., "
        f"API docs at /api/docs)"
    )
    if workers > 1:
        import os

        os.environ["MAKEGOOD_DATABASE_URL"] = app_.settings.database_url
        if app_.settings.now is not None:
            os.environ["MAKEGOOD_NOW"] = app_.settings.now.isoformat()
        uvicorn.run(
            "makegood.entrypoints.app:from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )
    else:
        if with_worker:
            app_.err.print(f"sending queued apologies to {app_.settings.smtp_url}")
        uvicorn.run(
            settled(create_app(app_.settings, with_worker=with_worker)),
            host=host,
            port=port,
            log_level="warning",
        )


def main() -> None:
    app()
