"""The API key is checked before anything reads the request's body: a caller without a
valid key learns only that (401), never how its body would have been judged (422).

The caller found here is kept in the request's state for the routes' role checks
(``kits.http.deps``), so a key is looked up once per request."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from makegood.kits.http.callers import API_KEYS
from makegood.kits.http.errors import error_json
from makegood.kits.root import Root

NO_KEY = "send an API key as 'Authorization: Bearer <key>'"
BAD_KEY = "the API key is not valid or was revoked"


class KeyFirst:
    """Pure ASGI in front of every ``/api/`` route but the ``open`` ones (the docs,
    the schema, and hooks that bring their own token)."""

    def __init__(self, app: ASGIApp, open: tuple[str, ...]) -> None:
        self.app, self.open = app, open

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith("/api/") or path.startswith(self.open):
            await self.app(scope, receive, send)
            return
        presented = _bearer(scope)
        if not presented:
            await error_json(401, "unauthorized", NO_KEY)(scope, receive, send)
            return
        root: Root = scope["app"].state.makegood
        caller = await run_in_threadpool(root.port(API_KEYS), root, presented)
        if caller is None:
            await error_json(401, "unauthorized", BAD_KEY)(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""
