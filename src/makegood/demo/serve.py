"""`makegood demo --serve`: the console, claim pages and API kept open on the demo's
database after the run, with a login made for it."""

from __future__ import annotations

import secrets

import uvicorn

from makegood.config import WebSettings
from makegood.console.users import add_user
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.demo.server import MailboxProcess, RunningClock
from makegood.demo.walkthrough import ACTOR, DemoResult, Options, demo_settings
from makegood.web.embedded import SERVER_OPTIONS

DEMO_USER = "demo"


def console_login(result: DemoResult) -> dict[str, str]:
    """A console user for this run (an approver, with a fresh password) and where to
    use it."""
    password = secrets.token_urlsafe(12)
    engine = make_engine(result.database_url)
    try:
        with UnitOfWork(engine) as uow:
            add_user(
                uow.session,
                DEMO_USER,
                "approver",
                password,
                result.finished_at,
                ACTOR,
                display_name="Demo approver",
            )
            uow.commit()
    finally:
        engine.dispose()
    return {
        "url": f"{result.base_url}/console",
        "api": f"{result.base_url}/api/docs",
        "username": DEMO_USER,
        "password": password,
    }


def keep_serving(result: DemoResult, options: Options) -> None:
    """Serve until Ctrl-C, on the port the letters' claim links point to; what the
    console queues (a link sent again, say) goes to the built-in mailbox. Its clock
    runs on from the end of the replay, so the claim windows have closed."""
    from makegood.entrypoints.app import create_app

    sink = MailboxProcess(result.directory / "mailbox")
    try:
        sink.wait_until_ready()
        settings = demo_settings(
            result.database_url,
            result.base_url,
            options.secret_key,
            sink.url,
            result.directory / "mailbox",
        ).model_copy(update={"web": WebSettings()})  # the claim pages' usual limits again
        app = create_app(settings, clock=RunningClock(result.finished_at), with_worker=True)
        port = int(result.base_url.rsplit(":", 1)[1])
        uvicorn.run(app, host="127.0.0.1", port=port, **SERVER_OPTIONS)
    finally:
        sink.stop()
