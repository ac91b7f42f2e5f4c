"""Slots for what a domain needs from outside itself, filled in one place.

A domain declares a ``Port`` beside the Protocol it needs (``CHANNELS:
Port[Channels] = Port("delivery channels")``); the composition root binds each port to a
factory, once, from settings; a command or a route asks its ``Root`` for the port and
gets the one object built for it. Domains never name an adapter, and nothing but the
composition root binds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from makegood.core.errors import ConfigurationError

T = TypeVar("T")


class Port(Generic[T]):
    """A named slot for one kind of outside help; its type parameter is what fills it.

    A port with a ``default`` needs no binding: state an application keeps across
    requests (a cache, a rate limiter) is made from the root on first use."""

    def __init__(self, name: str, default: Callable[[Any], T] | None = None) -> None:
        self.name = name
        self.default = default

    def __repr__(self) -> str:
        return f"Port({self.name!r})"


class Bindings:
    """Each port's factory, and the object it made on first use (made once per root)."""

    def __init__(
        self, resolve: Callable[[Port[Any]], Callable[[], Any] | None] | None = None
    ) -> None:
        # ``resolve`` names a port's factory when it is first asked for, so building the
        # bindings imports no domain: a command pays only for the ports it uses.
        self.resolve = resolve
        self._factories: dict[Port[Any], Callable[[], Any]] = {}
        self._made: dict[Port[Any], Any] = {}
        # Reentrant: a factory may ask for another port (the source check is the engine).
        self._lock = threading.RLock()

    def bind(self, port: Port[T], factory: Callable[[], T]) -> None:
        if port in self._factories:
            raise ConfigurationError(f"{port.name} is bound twice")
        self._factories[port] = factory

    def get(self, port: Port[T], root: Any) -> T:
        """The object for ``port``, made once (``root`` is handed to a default)."""
        with self._lock:
            if port not in self._made:
                factory = self._factories.get(port)
                if factory is None and self.resolve is not None:
                    factory = self.resolve(port)
                if factory is not None:
                    self._made[port] = factory()
                elif port.default is not None:
                    self._made[port] = port.default(root)
                else:
                    raise ConfigurationError(f"nothing provides the {port.name}")
            found: T = self._made[port]
            return found
