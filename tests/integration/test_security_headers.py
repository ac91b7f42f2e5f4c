"""Every page the application serves, found from its own routes and opened as the
public and as a signed-in admin, carries the headers that keep it from being framed,
sniffed or leaking its address: a Content-Security-Policy with frame-ancestors 'none'
(or X-Frame-Options: DENY), a Referrer-Policy and X-Content-Type-Options: nosniff."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from makegood.console.users import add_user
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.messaging.models import Message
from tests.support import truth as gt
from tests.support.delivery import executed, settings
from tests.support.server import MovableClock, served

PASSWORD = "a long enough password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _pages(app) -> list[str]:
    """Every GET route outside the API, with ids of things that exist."""
    paths = []
    stack = list(app.routes)
    while stack:
        route = stack.pop()
        inner = getattr(route, "original_router", None)
        if inner is not None:
            stack.extend(inner.routes)
        elif isinstance(route, APIRoute) and "GET" in route.methods:
            paths += [] if route.path.startswith("/api/") else [route.path]
    return sorted(set(paths))


def _filled(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return re.sub(r"\{[^}]+\}", "nobody", path)


def _guarded(answer: httpx.Response) -> list[str]:
    """What a page lacks (empty for anything that is not HTML)."""
    if not answer.headers.get("content-type", "").startswith("text/html"):
        return []
    h = answer.headers
    missing = []
    policy = h.get("content-security-policy", "")
    if "frame-ancestors 'none'" not in policy and h.get("x-frame-options") != "DENY":
        missing.append("framing")
    if not policy:
        missing.append("content-security-policy")
    if not h.get("referrer-policy"):
        missing.append("referrer-policy")
    if h.get("x-content-type-options") != "nosniff":
        missing.append("nosniff")
    return missing


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_page_carries_the_headers_that_protect_it(engine, database_url, world, sink):
    _, port = sink
    executed(engine, world.streaming)
    with UnitOfWork(engine) as uow:
        add_user(uow.session, "ada", "admin", PASSWORD, gt.NOW, "setup", "Ada")
        message = uow.session.scalars(select(Message).limit(1)).one()
        uow.commit()
    config = settings(database_url, port).model_copy(update={"base_url": "http://127.0.0.1"})
    app = create_app(config, MovableClock(gt.NOW))
    ids = {
        "incident_id": str(world.streaming),
        "campaign_id": str(message.campaign_id),
        "customer_id:path": message.customer_id,
        "token": "not-a-real-token",
    }
    pages = _pages(app)
    assert len(pages) >= 10
    problems = []
    with served(app) as base:
        with httpx.Client(base_url=base, timeout=30) as public:
            for path in pages:
                answer = public.get(_filled(path, ids))
                problems += [(path, "public", m) for m in _guarded(answer)]
        with httpx.Client(base_url=base, timeout=30) as admin:
            form = admin.get("/console/login")
            admin.post(
                "/console/login",
                data={
                    "csrf": CSRF.search(form.text).group(1),
                    "username": "ada",
                    "password": PASSWORD,
                },
            )
            seen = 0
            for path in pages:
                answer = admin.get(_filled(path, ids))
                seen += answer.headers.get("content-type", "").startswith("text/html")
                problems += [(path, "admin", m) for m in _guarded(answer)]
    assert seen >= 8
    assert problems == []
