"""Access to the AppContext the root callback stored on the Click context."""

from __future__ import annotations

import typer

from makegood.entrypoints.bootstrap import AppContext


def app_context(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppContext):  # pragma: no cover - the root callback always sets it
        raise RuntimeError("makegood's root callback did not run")
    return obj
