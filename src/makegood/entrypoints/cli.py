"""The `makegood` command: global options, then one group per domain.

Commands are registered lazily (see entrypoints/lazy.py): ``makegood --help`` lists
them from the table below, and a command's module is imported only when it is run.
"""

from __future__ import annotations

from typing import Annotated

import typer

from makegood.core.clock import parse_instant
from makegood.core.errors import InvalidInputError, MakegoodError
from makegood.entrypoints.lazy import LazyCommand, LazyGroup
from makegood.kits.cli.context import AppContext, app_context, load_settings
from makegood.kits.cli.errors import ReportingGroup, reports_errors, show_error

# In the order `makegood --help` lists them. Each help is the first paragraph of the
# command's own help, word for word; tests/unit/test_cli_imports.py keeps them in step.
COMMANDS = (
    LazyCommand(
        "send",
        "makegood.messaging.cli:send",
        "Send queued apologies over SMTP (MAKEGOOD_SMTP_URL), each exactly once.",
    ),
    LazyCommand(
        "worker",
        "makegood.messaging.cli:worker",
        "Send apologies as they are queued, until stopped (Ctrl-C or SIGTERM).",
    ),
    LazyCommand(
        "mailbox",
        "makegood.adapters.mailbox_cli:mailbox",
        "Run the built-in SMTP sink: every message is kept as .eml with an index.",
    ),
    LazyCommand(
        "bounces",
        "makegood.messaging.bounces_cli:bounces",
        "Read bounces and complaints that came back, and act on them.",
    ),
    LazyCommand(
        "dkim",
        "makegood.adapters.dkim_cli:app",
        "DKIM: sign every email so receivers know it is yours.",
    ),
    LazyCommand(
        "demo",
        "makegood.demo.cli:demo",
        "Replay March 2008 at a generated video company, end to end, on the embedded\n"
        "default (SQLite, DuckDB, the built-in mailbox): nothing else needs to run.",
    ),
    LazyCommand(
        "report",
        "makegood.reports.cli:report",
        "What an incident cost and what it bought: affected, excluded, held out, the\n"
        "funnel, delivery, claims and the claim rate, credits per currency and as a share\n"
        "of monthly revenue, time to apology, retention against the holdout group, and\n"
        "where its credits stand with each billing system they were pushed to.",
    ),
    LazyCommand(
        "audit",
        "makegood.audit.cli:audit",
        "Who did what to which object, when, with the state before and after.",
    ),
    LazyCommand(
        "init",
        "makegood.entrypoints.cli:init",
        "Create the database or migrate it to the newest schema (safe to run again).",
    ),
    LazyCommand(
        "serve",
        "makegood.entrypoints.cli:serve",
        "Serve the claim pages and the operators' API (docs at /api/docs).",
    ),
    LazyCommand(
        "customers",
        "makegood.customers.cli:app",
        "Customers: the people makegood may owe an apology.",
    ),
    LazyCommand(
        "sources",
        "makegood.sources.cli:app",
        "Usage data that impact rules read (CSV or Parquet).",
    ),
    LazyCommand(
        "incidents",
        "makegood.incidents.cli:app",
        "Incidents: what failed, when, for which services.",
    ),
    LazyCommand(
        "impact",
        "makegood.impact.cli:app",
        "Impact: who an incident hurt, and how sure we are.",
    ),
    LazyCommand(
        "campaigns",
        "makegood.campaigns.cli:app",
        "Campaigns: the remedy plan for an incident, approved, then executed.",
    ),
    LazyCommand(
        "policy",
        "makegood.reports.backtest_cli:app",
        "Policies: try one on past incidents before adopting it.",
    ),
    LazyCommand(
        "credits",
        "makegood.credits.cli:app",
        "Credits: the ledger of what customers were given.",
    ),
    LazyCommand(
        "billing",
        "makegood.billing.cli:app",
        "Billing: hand credits to the billing system.",
    ),
    LazyCommand(
        "keys",
        "makegood.access.cli:app",
        "API keys for the HTTP API: each acts for one owner under one role.",
    ),
    LazyCommand(
        "users",
        "makegood.console.cli:app",
        "People who sign in to the console (`makegood serve`).",
    ),
)


class RootGroup(LazyGroup, ReportingGroup):
    """The root: commands imported on first use; a bad command line exits 1."""

    lazy_commands = COMMANDS


app = typer.Typer(
    name="makegood",
    help="Proactive service recovery: find who an incident hurt, decide what each is owed, "
    "apologise and credit them exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=RootGroup,
)


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
    from makegood.entrypoints.wiring import build_root

    ctx.obj = AppContext(root=build_root(settings), json=json_output)


# init and serve are listed in COMMANDS like every other command, not registered here.
@reports_errors
def init(ctx: typer.Context) -> None:
    """Create the database or migrate it to the newest schema (safe to run again)."""
    from makegood.db import migrate

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
    from makegood.web.embedded import SERVER_OPTIONS

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
            **SERVER_OPTIONS,
        )
    else:
        if with_worker:
            app_.err.print(f"sending queued apologies to {app_.settings.smtp_url_shown()}")
        uvicorn.run(
            settled(create_app(app_.settings, with_worker=with_worker, root=app_.root)),
            host=host,
            port=port,
            **SERVER_OPTIONS,
        )


def main() -> None:
    app()
