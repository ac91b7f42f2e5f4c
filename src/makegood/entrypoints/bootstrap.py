"""Builds what a command needs from settings: engine, clock, actor, output."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import Engine

from makegood.config import Settings
from makegood.core.clock import Clock
from makegood.core.errors import ConfigurationError
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigurationError("invalid settings:\n  " + "\n  ".join(problems)) from None


@dataclass
class AppContext:
    settings: Settings
    json: bool = False
    out: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def clock(self) -> Clock:
        return self.settings.clock()

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
