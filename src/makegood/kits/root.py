"""What every command, page and worker works from: settings, clock, the database engine
and the bound ports. One is built per process (or per app) by the composition root in
``makegood.entrypoints.wiring``; this module only defines its shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from makegood.kits.ports import Bindings, Port

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from makegood.config import Settings
    from makegood.core.clock import Clock

T = TypeVar("T")


@dataclass
class Root:
    settings: Settings
    clock: Clock
    bindings: Bindings = field(default_factory=Bindings)
    given_engine: Engine | None = None

    @cached_property
    def engine(self) -> Engine:
        """The database engine, made on first use (some commands never touch it)."""
        if self.given_engine is not None:
            return self.given_engine
        from makegood.db.engine import make_engine

        return make_engine(self.settings.database_url)

    def now(self) -> datetime:
        return self.clock.now()

    def port(self, port: Port[T]) -> T:
        """The object bound to ``port`` (made on first use)."""
        return self.bindings.get(port, self)
