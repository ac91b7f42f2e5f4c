from __future__ import annotations

import socket
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from makegood.core.errors import InvalidInputError
from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors

if TYPE_CHECKING:
    from makegood.demo.walkthrough import DemoResult, Options
    from makegood.kits.cli.context import AppContext

_DirOption = Annotated[
    Path,
    typer.Option(
        "--dir",
        help="Where the demo keeps its data, SQLite database, mailbox, billing export and "
        "reports. Emptied and rebuilt on every run; a directory the demo did not make is "
        "refused.",
    ),
]

_CustomersOption = Annotated[
    int,
    typer.Option(
        min=100,
        max=1_000_000,
        help="How many customers to generate (20 usage events and 2 shipments each). "
        "50,000 takes about a minute on two cores.",
    ),
]

_SeedOption = Annotated[
    int,
    typer.Option(help="The generator's seed: the same seed and size give the same run."),
]

_HoldoutOption = Annotated[
    str,
    typer.Option(
        help="Percent of the affected customers held back from the apology as a control "
        "group, so each report can measure what the apology did for retention.",
    ),
]

_ServeOption = Annotated[
    bool,
    typer.Option(
        "--serve",
        help="After the run, keep the console, claim pages and API running on "
        "127.0.0.1 (with the built-in mailbox and sender), and print a login for it. "
        "Ctrl-C stops it.",
    ),
]

_PortOption = Annotated[
    int,
    typer.Option(
        min=1,
        max=65_535,
        help="The port the letters' claim links point to, and that --serve listens on "
        "(a run without --serve takes another when this one is in use).",
    ),
]


@reports_errors
def demo(
    ctx: typer.Context,
    directory: _DirOption = Path("makegood-demo"),
    customers: _CustomersOption = 50_000,
    seed: _SeedOption = 7,
    holdout: _HoldoutOption = "5",
    serve: _ServeOption = False,
    port: _PortOption = 8000,
) -> None:
    """Replay March 2008 at a generated video company, end to end, on the embedded
    default (SQLite, DuckDB, the built-in mailbox): nothing else needs to run.

    The company: customers in eight countries and locales and seven currencies, with
    plans, statuses, bill dates, five weeks of streaming history and their DVD
    shipments. The outages: the shipping system down for most of Monday 24 March
    2008 (late orders: 5% credited automatically) and streaming failing on the
    Thursday evening (errors: confirmed; regular viewers who stayed away: possible;
    2% claimable once within 7 days), both under the seed policy netflix-2008.toml.

    Each step acts at its own replayed time, as --now would: the morning after each
    outage makegood finds who it hurt, plans, approves, executes and emails the
    apologies over SMTP into the mailbox. Then about a quarter of the customers with a
    link open it and claim on the real claim page over HTTP, most in the first days,
    some after the deadline (refused). The credits are exported for billing, the
    customers are re-imported as they are two months on (some cancelled), and each
    incident's report is written.

    The summary gives each incident's figures from the run's records, checked against
    what the generator knows it did, and says where the reports, the mailbox and the
    console are. `makegood --json demo` prints it all as one JSON object instead. The
    global --database and --now do not apply: the demo keeps its own database and
    replays its own dates.
    """
    from makegood.demo.progress import Steps
    from makegood.demo.summary import show
    from makegood.demo.walkthrough import Options, run_demo

    started = time.monotonic()
    app = app_context(ctx)
    if app.settings.now is not None:
        raise InvalidInputError("--now: the demo replays its own dates (March 2008); drop --now")
    percent = _holdout_percent(holdout)
    if serve:
        _check_free(port)
    # The letters' claim links point to --port, where `makegood demo --serve` listens;
    # a plain run falls back to a free port only when that one is taken.
    options = Options(directory, customers, seed, percent, port if serve or _free(port) else None)
    with Steps(None if app.json else app.err) as steps:
        result = run_demo(options, steps)
    login = None
    if serve:
        from makegood.demo.serve import console_login

        login = console_login(result)
    data = result.as_json() | ({"console": login} if login else {})
    app.emit(data, lambda: show(app.out, result, time.monotonic() - started, login))
    if serve:
        _keep_serving(app, result, options)


def _holdout_percent(holdout: str) -> Decimal:
    """--holdout as a percent, at least 0 and below 50."""
    try:
        percent = Decimal(holdout)
    except InvalidOperation:
        raise InvalidInputError(f"--holdout: {holdout!r} is not a number") from None
    if not Decimal(0) <= percent < Decimal(50):
        raise InvalidInputError(f"--holdout: {holdout} must be at least 0 and below 50")
    return percent


def _keep_serving(app: AppContext, result: DemoResult, options: Options) -> None:
    """Serve the demo's console, claim pages and API until Ctrl-C."""
    from makegood.demo.serve import keep_serving

    sys.stdout.flush()  # the summary (or JSON) is out before the server takes over
    app.err.print(f"Serving {result.base_url} until Ctrl-C.")
    keep_serving(result, options)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _check_free(port: int) -> None:
    if not _free(port):
        raise InvalidInputError(
            f"--port: 127.0.0.1:{port} is in use; stop what runs there or choose another port"
        )
