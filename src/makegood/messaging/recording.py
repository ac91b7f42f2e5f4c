"""A sender's outcomes, written group by group (see Sender._record).

On PostgreSQL a group is one statement (``outbox.PG_RECORD``), which is a transaction
by itself. The sender sends it from its event loop over a connection of its own in
autocommit mode: one round trip per group, and no thread to hand the group to and
wait on. The same group through a unit of work on a thread took four round trips
(the pool's liveness check, BEGIN, the statement, COMMIT), a session's bookkeeping,
and two threads taking turns with the interpreter lock. A connection left unused for
a second is closed, and the next group opens a fresh one, so a worker that sat idle
while the database restarted starts again on a live connection.

A group with an address to suppress, and every group on SQLite, is written in a unit
of work on a thread, as before: several statements, one transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from makegood.config import DeliverySettings
from makegood.db.engine import async_connection
from makegood.db.uow import UnitOfWork
from makegood.messaging import outbox

IDLE_SECONDS = 1.0


class OutcomeWriter:
    """Writes one sender's outcome groups, one group at a time (never two at once)."""

    def __init__(self, engine: Engine, worker: str, delivery: DeliverySettings) -> None:
        self.engine, self.worker, self.delivery = engine, worker, delivery
        self._connection: Any = None  # psycopg AsyncConnection, autocommit
        self._cursor: Any = None  # one cursor, reused for every group
        self._used = 0.0

    async def write(self, outcomes: Sequence[outbox.Outcome]) -> set[int]:
        """Record the outcomes of messages this worker still holds; the ids it held."""
        if self.engine.dialect.name != "postgresql" or any(map(outbox.suppresses, outcomes)):
            return await asyncio.to_thread(self._in_unit_of_work, outcomes)
        d = self.delivery
        params = outbox.pg_record_params(
            self.worker, outcomes, d.max_attempts, d.backoff_seconds, d.backoff_max_seconds
        )
        cursor = await self._open()
        try:
            await cursor.execute(outbox.PG_RECORD, params)
            return {message_id for (message_id,) in await cursor.fetchall()}
        except BaseException:
            # Whatever happened to it, the next group starts on a new connection.
            await self.close()
            raise
        finally:
            self._used = time.monotonic()

    def _in_unit_of_work(self, outcomes: Sequence[outbox.Outcome]) -> set[int]:
        d = self.delivery
        with UnitOfWork(self.engine) as uow:
            held = outbox.record(
                uow.session,
                self.worker,
                outcomes,
                max_attempts=d.max_attempts,
                backoff=d.backoff_seconds,
                backoff_max=d.backoff_max_seconds,
            )
            uow.commit()
        return held

    async def _open(self) -> Any:
        idle = time.monotonic() - self._used > IDLE_SECONDS
        if self._connection is not None and (idle or self._connection.closed):
            await self.close()
        if self._connection is None:
            self._connection = await async_connection(self.engine)
            self._cursor = self._connection.cursor()
        return self._cursor

    async def close(self) -> None:
        """Close the connection (the sender is done, or the connection failed)."""
        connection, self._connection, self._cursor = self._connection, None, None
        if connection is not None:
            await connection.close()
