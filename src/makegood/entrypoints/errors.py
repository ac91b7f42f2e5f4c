"""Turns makegood errors into a message and exit status 1, never a traceback."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from makegood.core.errors import MakegoodError

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command taking ``ctx: typer.Context`` so its errors become messages."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except MakegoodError as exc:
            show_error(exc, _wants_json(kwargs.get("ctx")))
            raise typer.Exit(1) from None

    return wrapper


def _wants_json(ctx: object) -> bool:
    find_root = getattr(ctx, "find_root", None)
    if find_root is None:
        return False
    return bool(getattr(find_root().obj, "json", False))


def show_error(exc: MakegoodError, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"error": exc.to_dict()}) + "\n")
    else:
        sys.stderr.write(f"error: {exc.message}\n")
