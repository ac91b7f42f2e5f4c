"""The console as a signed-in viewer sees it: the application served over HTTP, a
viewer added and signed in through the login form."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import httpx

from makegood.config import Settings
from makegood.console.users import add_user
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from tests.support.server import MovableClock, served

PASSWORD = "a long enough password"


@contextmanager
def as_viewer(engine, config: Settings, now: datetime) -> Iterator[httpx.Client]:
    """A client signed in to the console as the viewer "vic". ``config.base_url`` must
    be http: the session cookie of an https site is not sent over plain HTTP."""
    with UnitOfWork(engine) as uow:
        add_user(uow.session, "vic", "viewer", PASSWORD, now, "t", "Vic")
        uow.commit()
    with (
        served(create_app(config, MovableClock(now))) as base,
        httpx.Client(base_url=base, timeout=30) as web,
    ):
        form = web.get("/console/login")
        token = html.unescape(re.search(r'name="csrf" value="([^"]+)"', form.text).group(1))
        signed = web.post(
            "/console/login", data={"csrf": token, "username": "vic", "password": PASSWORD}
        )
        assert signed.status_code == 303, signed.text
        yield web
