"""``create_app``: one FastAPI application for the claim pages and the operators' API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import escape
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from makegood import __version__
from makegood.config import Settings
from makegood.core.clock import Clock
from makegood.core.tokens import required_key
from makegood.entrypoints.wiring import build_root
from makegood.kits.http import errors
from makegood.kits.http.headers import SecurityHeaders
from makegood.kits.http.keys import KeyFirst
from makegood.kits.root import Root
from makegood.web import ops

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
DOCS_URL = "/api/docs"
DOCS_ASSETS_URL = "/api/docs/assets"
OPENAPI_URL = "/api/openapi.json"

DESCRIPTION = """\
The operators' API mirrors the `makegood` command line: customers, incidents, impact
runs, campaigns, messages, billing exports, reports and the audit log.

Every `/api` route needs an API key (`makegood keys create --role ROLE`) sent as
`Authorization: Bearer <key>`. Roles, each allowed what the ones before it are:
`viewer` reads; `operator` imports customers, declares and resolves incidents, runs
impact, plans, executes, cancels and exports billing;
`approver` also approves; `admin` everything.

Lists take `limit` and `offset` and answer `next_offset`. Errors are
`{"error": {"code", "message", "field"}}`.
"""


def create_app(
    settings: Settings,
    clock: Clock | None = None,
    with_worker: bool = False,
    root: Root | None = None,
) -> FastAPI:
    """The application; ``with_worker`` also sends the outbox from inside it (embedded use).
    The root is the composition root's, built from the settings unless given."""
    from makegood import console
    from makegood.entrypoints import routes
    from makegood.web import claim, unsubscribe

    required_key(settings.secret_key, "to serve pages: it signs the claim forms")

    app = FastAPI(
        title="makegood",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served by _api_docs, from local files
        redoc_url=None,
        openapi_url=OPENAPI_URL,
        lifespan=_sending if with_worker else None,
    )
    if root is None or clock is not None:
        root = build_root(settings, clock)
    app.state.makegood = root
    errors.install(app)
    ops.instrument(app)
    https = settings.base_url.lower().startswith("https://")
    app.add_middleware(KeyFirst, open=(DOCS_URL, OPENAPI_URL, "/api/hooks/"))
    app.add_middleware(SecurityHeaders, https=https)
    console.install(app, settings)

    @app.exception_handler(claim.TooMany)
    async def _too_many(request: Request, exc: claim.TooMany) -> Response:
        return claim.too_many(request, exc, settings.company.name)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _front_door(app)
    _api_docs(app)
    app.include_router(claim.router)
    app.include_router(unsubscribe.router)
    for router in routes.routers():
        app.include_router(router)
    return app


def _front_door(app: FastAPI) -> None:
    """``/`` leads a person to the console: its sign-in, or its first page when signed in."""

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def front_door(request: Request) -> Response:
        # The console checks the session's user itself; this only saves a hop.
        signed_in = request.session.get("uid") is not None
        return RedirectResponse("/console" if signed_in else "/console/login", status_code=303)


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{start}"></script>
</body>
</html>
"""


def _api_docs(app: FastAPI) -> None:
    """Swagger UI at ``/api/docs``: every script and style from this server, none inline,
    so the console's Content-Security-Policy holds on the page."""
    from makegood.console.render import HEADERS

    # Swagger UI's script and styles come with the fastapi-offline package rather than
    # from a CDN, so the docs work offline and behind a strict proxy.
    bundled = resources.files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=str(bundled)), name="api-docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = DOCS_PAGE.format(
            title=escape(app.title),
            assets=escape(root + DOCS_ASSETS_URL),
            openapi=escape(root + OPENAPI_URL),
            start=escape(root + "/static/api-docs.js"),
        )
        return HTMLResponse(html, headers=HEADERS)


@asynccontextmanager
async def _sending(app: FastAPI) -> AsyncIterator[None]:
    """Send queued apologies while the application runs (``makegood serve --with-worker``):
    one sender task on the server's event loop, stopped cleanly on shutdown."""
    services: Root = app.state.makegood
    from makegood.messaging.sender import for_root

    sender = for_root(services)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run("forever", stop), name="makegood-sender")
    task.add_done_callback(_report_sender_end)
    try:
        yield
    finally:
        stop.set()
        # The sender finishes the letters in hand and gives back the ones it leased.
        await asyncio.wait([task], timeout=services.settings.delivery.timeout_seconds + 5)
        if not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=5)


def _report_sender_end(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logging.getLogger("makegood.sender").error(
            "the in-process sender stopped", exc_info=task.exception()
        )


def from_environment() -> FastAPI:
    """The application from makegood.toml and MAKEGOOD_* (for server worker processes)."""
    from makegood.kits.cli.context import load_settings

    return settled(create_app(load_settings()))


def settled(app: FastAPI) -> FastAPI:
    """Move everything loaded so far out of the garbage collector's sight before serving.

    The application's modules, templates and settings live as long as the process; a
    full collection would otherwise walk them all, pausing every request in flight
    for up to a tenth of a second, which is what set the server's p99 latency.
    """
    import gc

    gc.collect()
    gc.freeze()
    return app
