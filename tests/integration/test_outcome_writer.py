"""A sender's outcome groups: written only for messages it still holds, with every
attempt, a refused address suppressed, and a lost connection replaced."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from makegood.config import DeliverySettings
from makegood.db.uow import UnitOfWork
from makegood.messaging import outbox
from makegood.messaging.models import DeliveryAttempt, Message, Suppression
from makegood.messaging.recording import OutcomeWriter
from tests.support.delivery import executed


def leased(engine, worker: str, count: int) -> list[int]:
    with UnitOfWork(engine) as uow:
        ids = outbox.lease(uow.session, worker, count, datetime.now(UTC), 300)
        uow.commit()
    return ids


def outcome(message_id: int, result: str = "sent", code: int | None = 250) -> outbox.Outcome:
    now = datetime.now(UTC)
    return outbox.Outcome(
        message_id=message_id,
        attempt=1,
        outcome=result,
        code=code,
        detail="250 OK" if result == "sent" else "550 no such user",
        started_at=now - timedelta(milliseconds=5),
        finished_at=now,
        recipient=f"reader{message_id}@example.com",
        provider_message_id=f"<makegood.1.{message_id}@example.com>",
        sent_at=now,
    )


def rows(engine, ids: list[int]) -> dict[int, tuple[str, str | None, int]]:
    """Each message's status, holder and number of recorded attempts."""
    with UnitOfWork(engine) as uow:
        found = uow.session.execute(select(Message.id, Message.status, Message.leased_by))
        attempts = uow.session.scalars(select(DeliveryAttempt.message_id)).all()
    return {i: (s, by, attempts.count(i)) for i, s, by in found if i in ids}


def test_a_group_is_written_for_the_messages_still_held_and_no_other(engine, world):
    executed(engine, world.shipping)
    mine = leased(engine, "w1", 4)
    with UnitOfWork(engine) as uow:  # the last one's lease ran out and w2 took it
        uow.session.execute(update(Message).where(Message.id == mine[-1]).values(leased_by="w2"))
        uow.commit()
    writer = OutcomeWriter(engine, "w1", DeliverySettings())

    async def write() -> set[int]:
        try:
            return await writer.write([outcome(i) for i in mine])
        finally:
            await writer.close()

    held = asyncio.run(write())

    assert held == set(mine[:-1])
    found = rows(engine, mine)
    assert [found[i] for i in mine[:-1]] == [("sent", None, 1)] * 3
    assert found[mine[-1]] == ("sending", "w2", 0)


def test_a_refused_address_is_suppressed_with_its_group(engine, world):
    executed(engine, world.shipping)
    first, second = leased(engine, "w1", 2)
    writer = OutcomeWriter(engine, "w1", DeliverySettings(max_attempts=1))

    async def write() -> set[int]:
        try:
            return await writer.write([outcome(first), outcome(second, "failed", 550)])
        finally:
            await writer.close()

    assert asyncio.run(write()) == {first, second}
    found = rows(engine, [first, second])
    assert (found[first][0], found[second][0]) == ("sent", "failed")
    with UnitOfWork(engine) as uow:
        suppressed = uow.session.scalars(select(Suppression.address)).all()
    assert suppressed == [f"reader{second}@example.com"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_connection_the_server_dropped_is_replaced(engine, world, monkeypatch):
    executed(engine, world.shipping)
    ids = leased(engine, "w1", 3)
    writer = OutcomeWriter(engine, "w1", DeliverySettings())

    def drop_writer_connection() -> None:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND query LIKE '%%jsonb_to_recordset%%'"
                )
            )

    async def write() -> list[object]:
        results: list[object] = [await writer.write([outcome(ids[0])])]
        drop_writer_connection()
        # Idle for longer than a second: the next group opens a fresh connection.
        monkeypatch.setattr(writer, "_used", writer._used - 5)
        results.append(await writer.write([outcome(ids[1])]))
        # Dropped while busy: that group fails (nothing is written for it) and the
        # next one goes out on a new connection.
        drop_writer_connection()
        try:
            results.append(await writer.write([outcome(ids[2])]))
        except Exception as exc:  # the driver's error for a closed connection
            results.append(type(exc).__name__)
            results.append(await writer.write([outcome(ids[2])]))
        finally:
            await writer.close()
        return results

    results = asyncio.run(write())

    assert results[:2] == [{ids[0]}, {ids[1]}]
    assert results[-1] == {ids[2]}
    assert [rows(engine, ids)[i] for i in ids] == [("sent", None, 1)] * 3
