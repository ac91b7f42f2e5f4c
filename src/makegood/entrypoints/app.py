"""``create_app``: one FastAPI application for the claim pages and the operators' API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from makegood import __version__
from makegood.api import errors
from makegood.api.deps import Services
from makegood.config import Settings
from makegood.core.clock import Clock
from makegood.core.errors import ConfigurationError
from makegood.db.engine import make_engine

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"

DESCRIPTION = """\
The operators' API mirrors the `makegood` command line: customers, incidents, impact
runs, campaigns, messages, billing exports, reports and the audit log.

Every `/api` route needs an API key (`makegood keys create --role ROLE`) sent as
`Authorization: Bearer <key>`. Roles, each allowed what the ones before it are:
`viewer` reads; `operator` declares, runs impact, plans, executes and cancels;
`approver` also approves; `admin` everything.

Lists take `limit` and `offset` and answer `next_offset`. Errors are
`{"error": {"code", "message", "field"}}`.
"""


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    from makegood import console
    from makegood.api import routes
    from makegood.web import claim

    if len(settings.secret_key) < 16:
        raise ConfigurationError(
            "MAKEGOOD_SECRET_KEY must be set (16 characters or more) to serve pages: it "
            "signs the claim forms; for example: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )

    app = FastAPI(
        title="makegood",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.makegood = Services(
        settings=settings,
        engine=make_engine(settings.database_url),
        clock=clock or settings.clock(),
    )
    errors.install(app)
    console.install(app, settings)

    @app.exception_handler(claim.TooMany)
    async def _too_many(request: Request, exc: claim.TooMany) -> Response:
        return claim.too_many(request, exc, settings.company.name)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(claim.router)
    for router in routes.routers():
        app.include_router(router)
    return app


def from_environment() -> FastAPI:
    """The application from makegood.toml and MAKEGOOD_* (for server worker processes)."""
    from makegood.entrypoints.bootstrap import load_settings

    return create_app(load_settings())
