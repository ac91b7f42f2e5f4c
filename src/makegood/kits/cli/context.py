"""What a command works with: the root (settings, clock, engine, ports, built by the
composition root), the actor and output, and the lookup of it from the command's Click
context."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from makegood.core.errors import ConfigurationError
from makegood.kits.cli import output

# Every command starts here, most need only part of it: pydantic-settings, SQLAlchemy
# and Rich are imported where they are used, so a command pays only for what it uses.
if TYPE_CHECKING:
    import typer
    from rich.console import Console
    from sqlalchemy import Engine

    from makegood.config import Settings
    from makegood.core.clock import Clock
    from makegood.db.uow import UnitOfWork
    from makegood.kits.root import Root


def load_settings(**overrides: Any) -> Settings:
    """Settings from makegood.toml, MAKEGOOD_* variables and these overrides (not None)."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from makegood.config import Settings, environment_problems, settings_problems

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = settings_problems(exc, overrides)
        raise ConfigurationError("invalid settings", problems) from None
    except SettingsError as exc:
        raise ConfigurationError("invalid settings", environment_problems(exc)) from None


@dataclass
class AppContext:
    root: Root
    json: bool = False

    @property
    def settings(self) -> Settings:
        return self.root.settings

    @cached_property
    def out(self) -> Console:
        """Rich console on stdout, made on first use (a --json command may never print)."""
        return output.console()

    @cached_property
    def err(self) -> Console:
        """Rich console on stderr, made on first use."""
        return output.console(stderr=True)

    @property
    def engine(self) -> Engine:
        return self.root.engine

    @property
    def clock(self) -> Clock:
        return self.root.clock

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def actor(self) -> str:
        if self.settings.actor:
            return self.settings.actor
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"

    def uow(self) -> UnitOfWork:
        """A unit of work on a database that is migrated to the newest schema."""
        from makegood.db import migrate
        from makegood.db.uow import UnitOfWork

        current = migrate.current_revision(self.engine)
        head = migrate.SCHEMA_HEAD
        if current != head:
            state = "is not initialised" if current is None else f"is at schema {current}"
            raise ConfigurationError(
                f"the database {self.engine.url.render_as_string(hide_password=True)} {state}; "
                "run `makegood init` first"
            )
        return UnitOfWork(self.engine)

    def emit(self, data: dict[str, Any], human: Callable[[], None] | None = None) -> None:
        """One JSON object with --json; otherwise the human rendering."""
        if self.json or human is None:
            sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False) + "\n")
        else:
            human()


def app_context(ctx: typer.Context) -> AppContext:
    """The AppContext the root callback stored on the Click context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, AppContext):  # pragma: no cover - the root callback always sets it
        raise RuntimeError("makegood's root callback did not run")
    return obj
