"""`makegood mailbox`: the built-in SMTP sink as a command."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors


@reports_errors
def mailbox(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 2525,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to keep messages (default: the mailbox_dir setting)."),
    ] = None,
) -> None:
    """Run the built-in SMTP sink: every message is kept as .eml with an index.

    Point makegood at it with MAKEGOOD_SMTP_URL=smtp://127.0.0.1:2525; read what
    arrived in DIR/index.jsonl and the .eml files beside it.
    """
    from makegood.adapters import mailbox as sink

    app_ = app_context(ctx)
    where = directory or app_.settings.mailbox_dir
    stop = False

    def halt(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, halt)
    controller = sink.start(where, host, port)
    app_.err.print(f"makegood mailbox: listening on smtp://{host}:{port}, keeping mail in {where}")
    try:
        while not stop:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
    app_.emit({"received": len(sink.read_index(where)), "dir": str(where)})
