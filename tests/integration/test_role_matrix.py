"""Every API operation and every console POST, tried with every role: a role below the
one the route needs is refused with 403 (before its body is read) and writes nothing;
a role that may is never refused and never meets a server error. The routes and the
role each needs are read from the application itself, so a new route is covered the
day it is added."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from makegood.access.rules import CLAIMS, KEY_ROLES, ROLES, allows
from makegood.access.service import create_key
from makegood.audit.models import AuditEntry
from makegood.console.users import add_user
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from tests.support import truth as gt
from tests.support.delivery import executed, settings
from tests.support.server import MovableClock, served

PASSWORD = "a long enough password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NEEDS = re.compile(r"^(console_)?requires_(\w+)$")


def _needed(route: APIRoute) -> str | None:
    """The role a route's dependencies ask for (None: no role check of ours)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        found = NEEDS.match(getattr(dependency.call, "__name__", ""))
        if found:
            return found.group(2)
        stack.extend(dependency.dependencies)
    return None


def _path(route: APIRoute) -> str:
    """The route's path with made-up ids: a role check comes before any lookup."""
    path = route.path
    for param in route.dependant.path_params:
        value = "999999" if param.field_info.annotation is int else "nobody"
        path = path.replace("{" + param.name + "}", value)
    return path


def _flat(routes: list[Any], prefix: str = "") -> list[APIRoute]:
    """The application's routes, with included routers opened."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            found += _flat(inner.routes, prefix + str(getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            assert not prefix, "routers here carry their own prefixes"
            found.append(route)
    return found


# Routes open by design: sign-in and sign-out, and the hooks with tokens of their own.
UNGUARDED = re.compile(r"^/(console/log(in|out)|api/hooks/|api/openapi|api/docs)")


def _routes(app: Any, prefix: str, methods: set[str]) -> list[tuple[str, str, str]]:
    found = []
    for route in _flat(app.routes):
        if not isinstance(route, APIRoute) or not route.path.startswith(prefix):
            continue
        needed = _needed(route)
        for method in sorted(route.methods & methods):
            # A route that forgot its role check fails here instead of being skipped.
            assert needed is not None or UNGUARDED.match(route.path), (method, route.path)
            if needed is not None:
                found.append((method, _path(route), needed))
    return found


def _audit(engine) -> int:
    with UnitOfWork(engine) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


@pytest.fixture
def site(engine, database_url, world, sink):
    _, port = sink
    executed(engine, world.shipping)
    keys = {}
    with UnitOfWork(engine) as uow:
        for role in KEY_ROLES:
            _, keys[role] = create_key(uow.session, f"{role}-owner", role, gt.NOW, "setup")
        for role in ROLES:
            add_user(uow.session, f"{role}-user", role, PASSWORD, gt.NOW, "setup", role)
        uow.commit()
    # Served over plain HTTP: the session cookie must not be marked Secure.
    config = settings(database_url, port).model_copy(update={"base_url": "http://127.0.0.1"})
    app = create_app(config, MovableClock(gt.NOW))
    with served(app) as base:
        yield app, base, keys


def test_every_api_operation_refuses_the_roles_below_it(engine, site):
    app, base, keys = site
    routes = _routes(app, "/api/", {"GET", "POST", "PUT", "PATCH", "DELETE"})
    writes = [r for r in routes if r[0] != "GET"]
    assert len(writes) >= 10 and {n for _, _, n in routes} >= {"viewer", "operator", "approver"}
    refused = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        before = _audit(engine)
        for method, path, needed in routes:
            for role, key in keys.items():
                if allows(role, needed):
                    continue
                answer = client.request(
                    method, path, headers={"Authorization": f"Bearer {key}"}, content=b"{"
                )
                assert answer.status_code == 403, (method, path, role, answer.text)
                refused += 1
        assert _audit(engine) == before  # nothing written by any refused request
        for method, path, needed in routes:
            for role in (r for r in KEY_ROLES if allows(r, needed)):
                answer = client.request(
                    method, path, headers={"Authorization": f"Bearer {keys[role]}"}, json={}
                )
                assert answer.status_code not in (401, 403), (method, path, role, answer.text)
                assert answer.status_code < 500, (method, path, role, answer.text)
    assert refused >= 30
    assert any(needed == CLAIMS for _, _, needed in routes)


def _signed_in(base: str, username: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/console/login")
    client.post(
        "/console/login",
        data={"csrf": CSRF.search(form.text).group(1), "username": username, "password": PASSWORD},
    )
    page = client.get("/console/incidents")
    assert page.status_code == 200, page.text
    return client, CSRF.search(page.text).group(1)


def test_every_console_post_refuses_the_roles_below_it(engine, site):
    app, base, _ = site
    routes = _routes(app, "/console", {"POST"})
    assert len(routes) >= 8
    for role in ROLES:
        client, csrf = _signed_in(base, f"{role}-user")
        before = _audit(engine)
        try:
            for _, path, needed in routes:
                answer = client.post(path, data={"csrf": csrf}, follow_redirects=False)
                if allows(role, needed):
                    assert answer.status_code not in (401, 403), (path, role, answer.text[:300])
                    assert answer.status_code < 500, (path, role, answer.text[:300])
                else:
                    assert answer.status_code == 403, (path, role, answer.status_code)
        finally:
            client.close()
        if role == "viewer":
            assert _audit(engine) == before  # a viewer changed nothing anywhere
