from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from makegood.core.words import counted
from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors

if TYPE_CHECKING:
    from makegood.billing.push import PushReport

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
    skip_pushed: Annotated[
        bool,
        typer.Option(
            help="Leave out entries `billing push` has delivered or is delivering to a "
            "billing system, for a file that goes to that same system."
        ),
    ] = False,
) -> None:
    """Export every ledger entry not exported yet, each exactly once.

    Columns: credit_id,customer_id,amount,currency,statement_date,incident_id,description;
    amounts in major units, reversals negative. --batch ID re-exports one batch.
    --skip-pushed leaves out entries pushed to a billing sink.
    """
    from makegood.billing.ports import BILLING_SINKS
    from makegood.billing.service import export

    app_ = app_context(ctx)
    sink = app_.root.port(BILLING_SINKS).sink(format_)
    with app_.uow() as uow:
        result = export(uow.session, out, sink, app_.now(), app_.actor, batch, skip_pushed)
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


@app.command("push")
@reports_errors
def push_(
    ctx: typer.Context,
    sink: Annotated[str, typer.Option(help="stripe, webhook, or a billing sink a plug-in adds.")],
    limit: Annotated[
        int | None, typer.Option(min=1, help="Hand at most this many entries this time.")
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            help="Keep pushing as entries are added and retries fall due, every --every "
            "seconds, until stopped (Ctrl-C or SIGTERM); then print the totals."
        ),
    ] = False,
    every: Annotated[float, typer.Option(min=0.1, help="Seconds between rounds.")] = 30.0,
    retry_failed: Annotated[
        bool,
        typer.Option(
            help="First give the sink's failed entries back to the queue, once their "
            "cause is fixed (say, billing_id imported); a credit voided since stays failed."
        ),
    ] = False,
    skip_exported: Annotated[
        bool,
        typer.Option(
            help="Leave out entries a billing export file already holds: when those files "
            "were loaded into this billing system, pushing them would credit twice."
        ),
    ] = False,
) -> None:
    """Push every ledger entry not yet delivered to SINK, each exactly once.

    Stripe: each entry becomes one pending invoice item on the customer (the customers
    file's billing_id), which Stripe puts on the next invoice. A refusal that may pass
    (a timeout, 429, 5xx) is tried again by a later push after a backoff; a permanent one
    (no billing_id, a currency Stripe cannot take) is failed, shown by `billing status`,
    and pushed again only with --retry-failed. Entries written by `billing export` are
    pushed too, with a warning, unless --skip-exported. Prints {"pushed": n, "failed":
    n, "pending": n} with --json.
    """
    from makegood.billing.ports import BILLING_SINKS
    from makegood.billing.push import push

    app_ = app_context(ctx)
    chosen = app_.root.port(BILLING_SINKS).sink(sink, "--sink")

    def once(first: bool = True) -> PushReport:
        context = (app_.engine, chosen, app_.now, app_.actor, app_.settings.billing, limit)
        again = retry_failed and first
        return push(*context, retry_failed=again, skip_exported=skip_exported)

    report = _watch(once, every, app_.err) if watch else once()
    if report.exported and not skip_exported:
        _warn_exported(app_.err, sink, report.exported)
    app_.emit(
        {"pushed": report.pushed, "failed": report.failed, "pending": report.pending},
        lambda: _print_push(app_.out, sink, report, skip_exported),
    )


def _warn_exported(err: Any, sink: str, exported: int) -> None:
    err.print(
        f"makegood: warning: {counted(exported, 'entry', 'entries')} pushed to {sink} for "
        "the first time (or queued, past --limit) had also been written to a billing export "
        "file. If that file was loaded into this billing system, those customers hold each "
        "of these credits twice there (remove one of each pair). --skip-exported leaves such "
        "entries out.",
        markup=False,
    )


def _print_push(out: Any, sink: str, report: PushReport, skipped: bool) -> None:
    if report.requeued:
        again = counted(report.requeued, "failed entry", "failed entries")
        out.print(f"{sink}: {again} tried again")
    out.print(
        f"{sink}: pushed {counted(report.pushed, 'entry', 'entries')}, "
        f"{report.failed} failed, {report.pending} still pending"
    )
    if report.exported and skipped:
        out.print(
            f"{sink}: {counted(report.exported, 'entry', 'entries')} left out, already in a "
            "billing export file (--skip-exported)"
        )


@app.command("status")
@reports_errors
def status_(
    ctx: typer.Context,
    sink: Annotated[str | None, typer.Option(help="One sink only.")] = None,
) -> None:
    """Where pushed entries stand, per sink: pending, delivered and failed (with each
    failure's reason), and any rounding a billing system's currency rules forced."""
    from makegood.billing.standing import status

    app_ = app_context(ctx)
    with app_.uow() as uow:
        found = status(uow.session, sink)
    app_.emit({"sinks": found}, lambda: _print_status(app_.out, found))


def _print_status(out: Any, found: dict[str, dict[str, Any]]) -> None:
    if not found:
        out.print("Nothing has been pushed yet.")
    for name, counts in found.items():
        out.print(
            f"{name}: {counts['delivered']} delivered, {counts['pending']} pending, "
            f"{counts['failed']} failed"
        )
        for failure in counts["failures"]:
            out.print(
                f"  entry {failure['entry_id']} ({failure['customer_id']}): {failure['reason']}",
                markup=False,
            )
        for currency, amount in counts["rounding"].items():
            out.print(f"  rounding kept with the entries: {amount} {currency}")


@app.command("reconcile")
@reports_errors
def reconcile_(
    ctx: typer.Context,
    sink: Annotated[str, typer.Option(help="stripe, or a plug-in's sink that can list.")],
) -> None:
    """Compare what was pushed to SINK with what the billing system holds now.

    Lists entries delivered but no longer there, items that carry a makegood credit_id
    no delivered entry accounts for, and amount or currency differences. With --json:
    {"matched": n, "missing": [...], "unknown": [...], "different": [...]}.
    """
    from makegood.billing.ports import BILLING_SINKS, Reconcilable
    from makegood.billing.reconcile import reconcile
    from makegood.core.errors import InvalidInputError

    app_ = app_context(ctx)
    chosen = app_.root.port(BILLING_SINKS).sink(sink, "--sink")
    if not isinstance(chosen, Reconcilable):
        raise InvalidInputError(f"--sink: the {sink} billing sink cannot list what it holds")
    with app_.uow() as uow:
        found = reconcile(uow.session, chosen)
    app_.emit(found.as_dict(), lambda: _print_reconciliation(app_.out, sink, found.as_dict()))


def _print_reconciliation(out: Any, sink: str, found: dict[str, Any]) -> None:
    from rich.table import Table

    problems = len(found["missing"]) + len(found["unknown"]) + len(found["different"])
    out.print(f"{sink}: {found['matched']} entries match; {problems} differences")
    if not problems:
        return
    table = Table("what", "credit_id", "customer / billing id", "makegood", "billing system")
    for m in found["missing"]:
        table.add_row(
            "missing there", m["credit_id"], m["customer_id"], f"{m['amount']} {m['currency']}", "-"
        )
    for u in found["unknown"]:
        table.add_row(
            "not in the ledger",
            u["credit_id"],
            u["billing_id"],
            "-",
            f"{u['amount']} {u['currency']}",
        )
    for d in found["different"]:
        table.add_row(
            "different",
            d["credit_id"],
            d["customer_id"],
            f"{d['pushed']} {d['currency']}",
            ", ".join(d["held"]),
        )
    out.print(table)


def _watch(once: Callable[[bool], PushReport], every: float, err: Any) -> PushReport:
    """Push rounds until SIGINT or SIGTERM; the totals of every round."""
    from makegood.billing.push import PushReport

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    err.print(f"makegood billing push: a round every {every:g} s; Ctrl-C stops.")
    total, first = PushReport(), True
    while not stop.is_set():
        report = once(first)
        first = False
        total.pushed += report.pushed
        total.failed += report.failed
        total.retried += report.retried
        total.requeued += report.requeued
        total.pending = report.pending
        total.exported += report.exported
        stop.wait(every)
    return total
