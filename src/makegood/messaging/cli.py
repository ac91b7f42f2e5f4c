"""`makegood send` and `makegood worker`."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from makegood.kits.cli.context import AppContext, app_context
from makegood.kits.cli.errors import reports_errors

if TYPE_CHECKING:
    from makegood.messaging.sender import Counts, Sender
    from makegood.messaging.sender import Progress as Tick


def _sender(app_: AppContext, progress: Tick | None = None) -> Sender:
    # The root's sender, made here: Jinja2 and the channels load only for the commands
    # that send.
    from makegood.core.tokens import usable_key
    from makegood.messaging.sender import for_root

    app_.uow()  # refuses an uninitialised or old schema, naming the fix
    if not usable_key(app_.settings.secret_key):
        app_.err.print(
            "makegood: warning: MAKEGOOD_SECRET_KEY is not set, so emails go out without "
            "the one-click unsubscribe link (RFC 8058) and the return path for bounces "
            "that Gmail, Yahoo and Outlook require of bulk senders",
            markup=False,
        )
    return for_root(app_.root, progress)


def _pending(app_: AppContext) -> int:
    from sqlalchemy import func, select

    from makegood.messaging.models import PENDING_STATES, Message

    with app_.uow() as uow:
        return int(
            uow.session.scalar(
                select(func.count()).select_from(Message).where(Message.status.in_(PENDING_STATES))
            )
            or 0
        )


@reports_errors
def send(
    ctx: typer.Context,
    until_empty: Annotated[
        bool,
        typer.Option(
            "--until-empty",
            help="Keep going until nothing is pending: wait out retries' backoff and other "
            "senders' leases. Without it, send what is due now and stop.",
        ),
    ] = False,
) -> None:
    """Send queued apologies over SMTP (MAKEGOOD_SMTP_URL), each exactly once.

    Several reused connections (\\[delivery] connections), an optional rate limit,
    retries with exponential backoff for 4xx replies, timeouts and dropped
    connections; a 5xx reply fails the message and suppresses the address. Every
    attempt is recorded. Safe to run again and beside other senders.
    """
    app_ = app_context(ctx)
    pending = _pending(app_)
    with Progress(
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[tally]}"),
        console=app_.err,
        disable=app_.json or not app_.err.is_terminal,
    ) as bar:
        task = bar.add_task("messages", total=pending, tally="")
        tally: dict[str, int] = {}

        def tick(outcome: str) -> None:
            tally[outcome] = tally.get(outcome, 0) + 1
            text = " ".join(f"{k} {v}" for k, v in sorted(tally.items()))
            bar.update(task, advance=1 if outcome != "retry" else 0, tally=text)

        sender = _sender(app_, tick)
        started = time.monotonic()
        counts = asyncio.run(sender.run("until_empty" if until_empty else "due"))
    data = {
        "sent": counts.sent,
        "failed": counts.failed,
        "retrying": counts.retrying,
        "suppressed": counts.suppressed,
        "seconds": round(time.monotonic() - started, 2),
    }
    app_.emit(
        data,
        lambda: app_.out.print(
            f"Sent {counts.sent}, failed {counts.failed}, retrying {counts.retrying}, "
            f"suppressed {counts.suppressed} in {data['seconds']} s."
        ),
    )


@reports_errors
def worker(ctx: typer.Context) -> None:
    """Send apologies as they are queued, until stopped (Ctrl-C or SIGTERM).

    Run as many as you like on PostgreSQL: each takes its own batches
    (FOR UPDATE SKIP LOCKED) under a lease (\\[delivery] lease_seconds).
    """
    app_ = app_context(ctx)
    sender = _sender(app_)

    async def main() -> Counts:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # Said once the signals are handled: from here on, Ctrl-C or SIGTERM stops cleanly.
        app_.err.print(
            f"makegood worker: sending to {app_.settings.smtp_url_shown()}; Ctrl-C stops."
        )
        return await sender.run("forever", stop)

    counts = asyncio.run(main())
    app_.emit(counts.__dict__, lambda: app_.out.print(f"Stopped: {counts.__dict__}"))
