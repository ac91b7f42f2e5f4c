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

A group whose connection was lost (a restart, a killed backend) is written again on a
new connection, with backoff, for as long as ``db/retry.py`` is patient. Writing it
again is harmless: the statement changes only messages still leased and unsettled, so
a try that committed before its answer was lost leaves nothing for the next one to
do. The next try then finds that try's attempts in ``delivery_attempts`` (the same
message, attempt and worker) and counts those messages as held, as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from makegood.config import DeliverySettings
from makegood.db.engine import async_connection
from makegood.db.retry import retrying_async
from makegood.db.uow import UnitOfWork
from makegood.messaging import outbox
from makegood.messaging.leases import Holdings
from makegood.messaging.models import DeliveryAttempt

IDLE_SECONDS = 1.0
# The attempts this worker recorded for some messages: (message, attempt) pairs.
PG_RECORDED = """
    SELECT message_id, attempt FROM delivery_attempts
    WHERE message_id = ANY(CAST(%(ids)s AS bigint[])) AND worker = %(worker)s
    """


class OutcomeWriter:
    """Writes one sender's outcome groups, one group at a time (never two at once)."""

    def __init__(self, engine: Engine, worker: str, delivery: DeliverySettings) -> None:
        self.engine, self.worker, self.delivery = engine, worker, delivery
        self._connection: Any = None  # psycopg AsyncConnection, autocommit
        self._cursor: Any = None  # one cursor, reused for every group
        self._used = 0.0

    async def write(
        self, outcomes: Sequence[outbox.Outcome], doubt: Callable[[], None] | None = None
    ) -> set[int]:
        """Record the outcomes of messages this worker still holds; the ids it held.
        While the database is away the group is tried again; ``doubt`` is called when
        a try fails (the group may or may not be written until a try succeeds)."""
        tries = 0

        async def once() -> set[int]:
            nonlocal tries
            tries += 1
            try:
                return await self._write(outcomes, again=tries > 1)
            except Exception:
                if doubt is not None:
                    doubt()
                raise

        return await retrying_async(once)

    async def _write(self, outcomes: Sequence[outbox.Outcome], again: bool) -> set[int]:
        if self.engine.dialect.name != "postgresql" or any(map(outbox.suppresses, outcomes)):
            return await asyncio.to_thread(self._in_unit_of_work, outcomes, again)
        d = self.delivery
        params = outbox.pg_record_params(
            self.worker, outcomes, d.max_attempts, d.backoff_seconds, d.backoff_max_seconds
        )
        try:
            cursor = await self._open()
            await cursor.execute(outbox.PG_RECORD, params)
            held = {message_id for (message_id,) in await cursor.fetchall()}
            if again and len(held) < len(outcomes):
                await cursor.execute(PG_RECORDED, {"ids": params["ids"], "worker": self.worker})
                held |= _ours(outcomes, await cursor.fetchall())
            return held
        except BaseException:
            # Whatever happened to it, the next try or group starts on a new connection.
            await self.close()
            raise
        finally:
            self._used = time.monotonic()

    def _in_unit_of_work(self, outcomes: Sequence[outbox.Outcome], again: bool) -> set[int]:
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
            if again and len(held) < len(outcomes):
                held |= _ours(outcomes, _recorded(uow.session, self.worker, outcomes))
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
            with contextlib.suppress(Exception):  # a lost connection has nothing to close
                await connection.close()


class GroupCommit:
    """Outcomes from a sender's connections, committed a group at a time: those that
    arrive while a group is being written go together in the next, so many
    connections share one commit without any of them moving on before its own is
    durable."""

    def __init__(self, writer: OutcomeWriter, holdings: Holdings) -> None:
        self.writer, self.holdings = writer, holdings
        self._pending: list[tuple[outbox.Outcome, asyncio.Future[int]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def record(self, outcome: outbox.Outcome) -> bool:
        """Wait until ``outcome`` is written; whether its message was still held."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_pending())
        return bool(await done)

    async def finish(self) -> None:
        """Wait for the group being written, if any (its waiters may be gone)."""
        if self._committer is not None and not self._committer.done():
            await asyncio.wait([self._committer])

    async def close(self) -> None:
        await self.writer.close()

    async def _commit_pending(self) -> None:
        """Write the waiting outcomes, group after group. Never raises: a group that
        cannot be written (the database away past its patience) fails each of its
        waiters and every outcome queued behind it, so no waiter waits for ever."""
        while self._pending:
            group, self._pending = self._pending, []
            try:
                held = await self.writer.write([o for o, _ in group], self.holdings.in_doubt)
            except BaseException as exc:
                waiting, self._pending = group + self._pending, []
                for _, done in waiting:
                    if done.done():  # its waiter was cancelled
                        continue
                    if isinstance(exc, asyncio.CancelledError):
                        done.cancel()
                    else:
                        done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                return
            finally:
                self.holdings.settled.set()
            self.holdings.done([o.message_id for o, _ in group])
            for outcome, done in group:
                if not done.done():
                    done.set_result(int(outcome.message_id in held))


def _recorded(session: Session, worker: str, outcomes: Sequence[outbox.Outcome]) -> Any:
    """The (message, attempt) pairs ``worker`` recorded for these outcomes' messages."""
    ids = [o.message_id for o in outcomes]
    return session.execute(
        select(DeliveryAttempt.message_id, DeliveryAttempt.attempt).where(
            DeliveryAttempt.message_id.in_(ids), DeliveryAttempt.worker == worker
        )
    ).all()


def _ours(outcomes: Sequence[outbox.Outcome], found: Iterable[tuple[int, int]]) -> set[int]:
    """The messages whose attempt in ``outcomes`` is among the recorded ``found``: an
    earlier try of the same group wrote them."""
    wanted = {(o.message_id, o.attempt) for o in outcomes}
    return {message_id for message_id, attempt in found if (message_id, attempt) in wanted}
