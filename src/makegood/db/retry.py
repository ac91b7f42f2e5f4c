"""A unit of work run again when the database went away under it.

A restarted server, a backend killed by an operator (``pg_terminate_backend``) or a
connection cut by the network fails the transaction in flight; the pool has already
thrown that connection away (the next checkout is pinged first), so running the whole
unit of work again on a fresh one is safe whenever the unit is idempotent, as
makegood's resumable steps are: each picks up from the state the database holds.
While the server is down (restarting, refusing connections) the attempts back off.

``retrying`` runs a unit on the calling thread; ``retrying_async`` awaits one on an
event loop (the sender's steps), with the same test, waits and patience.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

T = TypeVar("T")
log = logging.getLogger(__name__)

# Long enough for a server restart or a failover; then the error is the user's to see.
# Read when a unit starts, so a test may shorten it.
PATIENCE_SECONDS = 60.0
FIRST_WAIT = 0.1
MAX_WAIT = 5.0
_DRIVER_CLASSES = ("OperationalError", "InterfaceError")


def went_away(exc: BaseException) -> bool:
    """The connection was lost, or the server cannot be reached or is shutting down or
    starting up: worth trying the unit of work again. Refusals (a broken constraint, a
    bad value) are not. Code on the driver's own connection (the outbox's group commit)
    sees the driver's errors unwrapped; PEP 249 names their classes alike."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))
    return any(k.__name__ in _DRIVER_CLASSES for k in type(exc).__mro__)


class _Backoff:
    """The waits between attempts, and whether another attempt fits in the patience."""

    def __init__(self, patience: float | None) -> None:
        self.deadline = time.monotonic() + (PATIENCE_SECONDS if patience is None else patience)
        self.wait = FIRST_WAIT

    def next_wait(self, exc: Exception) -> float | None:
        """How long to wait before the next attempt; None when there is none (``exc`` is
        a refusal, or the patience has run out)."""
        if not went_away(exc) or time.monotonic() + self.wait > self.deadline:
            return None
        wait, self.wait = self.wait, min(self.wait * 2, MAX_WAIT)
        log.warning("database went away (%s); trying again in %.1f s", type(exc).__name__, wait)
        return wait


def retrying(
    unit: Callable[[], T],
    patience: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``unit()``, run again with a growing wait while the database is away, for at
    most ``patience`` seconds (PATIENCE_SECONDS by default); then its last error is
    raised."""
    backoff = _Backoff(patience)
    while True:
        try:
            return unit()
        except Exception as exc:
            wait = backoff.next_wait(exc)
            if wait is None:
                raise
        sleep(wait)


async def retrying_async(
    unit: Callable[[], Awaitable[T]],
    patience: float | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """``await unit()``, awaited again as ``retrying`` runs a unit: a new awaitable for
    each attempt, a growing wait between them while the database is away."""
    backoff = _Backoff(patience)
    while True:
        try:
            return await unit()
        except Exception as exc:
            wait = backoff.next_wait(exc)
            if wait is None:
                raise
        await sleep(wait)
