"""The operators' console: server-rendered pages behind a login, for the incident
engineer, the approver and the support agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from makegood.config import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Add the console's pages, its session cookie and its error pages to ``app``."""
    from fastapi import Request, Response
    from starlette.middleware.sessions import SessionMiddleware

    from makegood.console import auth, pages
    from makegood.console.render import page

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie="makegood_console",
        max_age=12 * 3600,
        same_site="strict",
        https_only=settings.base_url.startswith("https://"),
    )
    app.include_router(auth.router)
    for router in pages.routers():
        app.include_router(router)

    @app.exception_handler(auth.NeedsLogin)
    async def _login(request: Request, exc: auth.NeedsLogin) -> Response:
        return auth.login_redirect(exc)

    @app.exception_handler(auth.Forbidden)
    async def _forbidden(request: Request, exc: auth.Forbidden) -> Response:
        return page(request, "error.html", 403, title="Not allowed", message=exc.message)

    @app.exception_handler(auth.BadCsrf)
    async def _csrf(request: Request, exc: auth.BadCsrf) -> Response:
        return page(
            request,
            "error.html",
            403,
            title="This form has expired",
            message="Reload the page and try again (the form's security token did not match).",
        )
