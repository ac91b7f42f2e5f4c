"""The letters one sender holds, and its database steps for them besides the outcomes
(see recording.py): taking a batch under a lease, asking when the next one is due, and
giving back what it will not send. Each step is tried again, with backoff, while the
database is away (db/retry.py); past that patience its error ends the sender.

A sender knows which messages it holds and which of those it has handed to a channel
and not yet recorded. When it stops, for any reason, it gives back the ones never
handed over, so another sender can take them at once rather than when the lease runs
out. The others keep their lease: whether their channel took them is not known (or not
yet written), and taking them sooner could send them twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from makegood.config import DeliverySettings
from makegood.db.retry import retrying_async, went_away
from makegood.db.uow import UnitOfWork
from makegood.messaging import outbox

log = logging.getLogger(__name__)
# Giving back is a courtesy (the leases run out by themselves): it waits out a restart,
# not a long outage.
GIVE_BACK_PATIENCE = 10.0


def wall_clock() -> datetime:
    # Leases and backoff run on real time even when --now replays history: a
    # replayed clock stands still, and a lease must still run out.
    return datetime.now(UTC)


class Holdings:
    """What one sender holds (``held``), what of it is with a channel or being recorded
    (``started``), and the steps that lease, look ahead and give back."""

    def __init__(self, engine: Engine, worker: str, delivery: DeliverySettings) -> None:
        self.engine, self.worker, self.delivery = engine, worker, delivery
        self.held: set[int] = set()
        self.started: set[int] = set()
        self.settled = asyncio.Event()

    def begin(self) -> None:
        """A run starts (on its own event loop), holding nothing, no outcome in doubt."""
        self.held.clear()
        self.started.clear()
        self.settled = asyncio.Event()
        self.settled.set()

    def in_doubt(self) -> None:
        """An outcome write failed and is being tried again: lease nothing until it is
        settled. A message whose lease ran out meanwhile could otherwise come back to
        this very sender and go out a second time."""
        self.settled.clear()

    def done(self, ids: list[int]) -> None:
        """These messages' outcomes are written (or the write found them taken)."""
        self.held.difference_update(ids)
        self.started.difference_update(ids)

    async def lease(self) -> tuple[list[int], datetime]:
        """Lease the next batch: its ids, and when the lease ends."""

        async def once() -> tuple[list[int], datetime]:
            await self.settled.wait()
            return await asyncio.to_thread(self._lease)

        ids, until = await retrying_async(once)
        self.held.update(ids)
        return ids, until

    def _lease(self) -> tuple[list[int], datetime]:
        now, d = wall_clock(), self.delivery
        with UnitOfWork(self.engine) as uow:
            ids = outbox.lease(uow.session, self.worker, d.batch_size, now, d.lease_seconds)
            uow.commit()
        return ids, now + timedelta(seconds=d.lease_seconds)

    async def next_due(self) -> datetime | None:
        """When the earliest pending message becomes due; None if none is pending."""
        return await retrying_async(lambda: asyncio.to_thread(self._next_due))

    def _next_due(self) -> datetime | None:
        with UnitOfWork(self.engine) as uow:
            return outbox.next_due(uow.session, wall_clock())

    async def give_back(self) -> None:
        """Release what this sender holds and never handed to a channel. Best effort:
        if the database cannot take it, the leases run out by themselves."""
        ids = sorted(self.held - self.started)
        if not ids:
            return
        try:
            await retrying_async(
                lambda: asyncio.to_thread(self._release, ids), patience=GIVE_BACK_PATIENCE
            )
        except Exception as exc:
            if not went_away(exc):
                raise
            log.warning(
                "could not give back %d leased messages (%s: %s); they go again when "
                "their lease runs out",
                len(ids),
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )
            return
        self.held.difference_update(ids)

    def _release(self, ids: list[int]) -> None:
        with UnitOfWork(self.engine) as uow:
            outbox.release(uow.session, self.worker, ids, wall_clock())
            uow.commit()
