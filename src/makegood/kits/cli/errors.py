"""Turns makegood's errors, the database's and bad command lines into a message and
exit status 1, never a traceback.

Imported by every command, so it stays light: SQLAlchemy is only looked at once
one of its errors has been raised (and so it is already loaded).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from typer._click.core import Context as ClickContext
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from makegood.core.errors import (
    ConfigurationError,
    InvalidInputError,
    MakegoodError,
    database_error,
)

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command taking ``ctx: typer.Context`` so its errors become messages."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = kwargs.get("ctx")
        try:
            return fn(*args, **kwargs)
        except MakegoodError as exc:
            show_error(exc, _wants_json(ctx))
            raise typer.Exit(1) from None
        except Exception as exc:
            known = as_user_error(exc, _database_url(ctx))
            if known is None:
                raise  # a bug: its traceback is the useful report
            show_error(known, _wants_json(ctx))
            raise typer.Exit(1) from None

    return wrapper


def as_user_error(exc: BaseException, database_url: str | None = None) -> MakegoodError | None:
    """A database error as a one-line MakegoodError; None for anything else."""
    if isinstance(exc, MakegoodError):
        return exc
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is None:  # SQLAlchemy never loaded, so this cannot be one of its errors
        return None
    if isinstance(exc, sa.DBAPIError) or _from_driver(exc):
        return database_error(exc, _shown_url(database_url))
    if isinstance(exc, sa.ArgumentError):
        # Raised while an engine is made from a URL nobody can connect with.
        return ConfigurationError(f"database URL: {exc}")
    return None


def _from_driver(exc: BaseException) -> bool:
    """An error the database driver raised itself, not wrapped by SQLAlchemy: code that
    works on the driver's connection directly (the outbox's group commit) gets these."""
    for name in ("psycopg", "sqlite3"):
        driver = sys.modules.get(name)
        if driver is not None and isinstance(exc, driver.Error):
            return True
    return False


def show_error(exc: BaseException, as_json: bool) -> None:
    """Print one error: ``error: ...`` on stderr, or one JSON object on stdout."""
    known = as_user_error(exc)
    if known is None:
        known = MakegoodError(f"internal error ({type(exc).__name__}); please report it")
    if as_json:
        sys.stdout.write(json.dumps({"error": known.to_dict()}, ensure_ascii=False) + "\n")
    else:
        sys.stderr.write(f"error: {known.message}\n")


class ReportingGroup(TyperGroup):
    """The root command: a bad command line (an unknown option, a value out of range,
    a missing argument) is a refusal like any other, exit status 1, JSON with --json."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise  # `makegood customers` alone shows the group's help
        except UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "makegood"
            message = f"{exc.format_message()} (see `{where} --help`)"
            show_error(InvalidInputError(message), _wants_json(ctx))
            raise typer.Exit(1) from None


def _wants_json(ctx: object) -> bool:
    find_root = getattr(ctx, "find_root", None)
    if find_root is None:
        return False
    root = find_root()
    if getattr(root.obj, "json", False):
        return True
    # Before the root callback has run, only the parsed option knows.
    return bool(getattr(root, "params", {}).get("json_output", False))


def _database_url(ctx: object) -> str | None:
    find_root = getattr(ctx, "find_root", None)
    settings = getattr(find_root().obj, "settings", None) if find_root is not None else None
    url = getattr(settings, "database_url", None)
    return url if isinstance(url, str) else None


def _shown_url(url: str | None) -> str:
    """The URL with its password hidden, or nothing when it cannot be parsed."""
    if not url:
        return ""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return ""
