"""The database going away under a command: a backend killed mid-transaction (as
``pg_terminate_backend`` or a server restart does) is ridden out by the steps that can
start again, and anything that still reaches the user is one line, never a traceback.
chaos/database.py does the same with real restarts, at scale.

The shared test server cannot be restarted under other tests, so a restart is played
here by the test's own database refusing connections (``ALLOW_CONNECTIONS false``, as a
server shutting down or starting up refuses them) with its backends terminated."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sqlite3
import threading
import time
from collections import Counter
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from makegood.campaigns.execution import execute
from makegood.config import DeliverySettings
from makegood.core.clock import FixedClock
from makegood.credits.models import LedgerEntry, Offer
from makegood.db import retry
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.wiring import build_root
from makegood.kits.cli.errors import as_user_error
from makegood.messaging import outbox, recording
from makegood.messaging.models import DeliveryAttempt, Message
from makegood.messaging.sender import for_root
from tests.conftest import PG_ADMIN_URL
from tests.integration.test_exactly_once import _big_campaign
from tests.support import cli
from tests.support import truth as gt
from tests.support.delivery import SENT_AT, send, settings
from tests.support.world import SECRET

SIZE = 120


def count(engine, model, *where) -> int:
    with UnitOfWork(engine) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model).where(*where)))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_execute_rides_out_its_backend_killed_mid_chunk(engine, tmp_path):
    campaign_id = _big_campaign(engine, tmp_path, SIZE)
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    killed: list[int] = []

    @event.listens_for(engine, "before_cursor_execute")
    def kill_the_third_chunk(conn, cursor, statement, *args):
        # Inside the third chunk's transaction, as it writes the ledger: the server
        # drops this very connection, as a restart or an operator would.
        if "ledger_entries" in statement and "INSERT" in statement:
            killed.append(len(killed))
            if len(killed) == 3:
                with admin.connect() as other:
                    pid = cursor.connection.info.backend_pid
                    other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    try:
        result = execute(engine, campaign_id, gt.NOW, "ops", SECRET, chunk_size=20)
    finally:
        admin.dispose()
    assert len(killed) > 3, "the chunk was never run again"
    assert count(engine, LedgerEntry) == SIZE
    assert count(engine, Message) == SIZE
    assert count(engine, Offer, Offer.status == "granted") == SIZE
    assert result.granted == SIZE  # the lost chunk was rolled back, then done again


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_unit_whose_connection_died_after_its_last_read_ends_quietly(engine):
    """Nothing was written, and the server rolled back when the connection went: the
    closing rollback has nothing to do and raises nothing (it used to, in place of
    whatever the block itself raised)."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def read_then_lose_the_connection(uow: UnitOfWork) -> None:
        pid = uow.session.scalar(text("SELECT pg_backend_pid()"))
        with admin.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    def failing_unit() -> None:
        with UnitOfWork(engine) as uow:
            read_then_lose_the_connection(uow)
            raise LookupError("the block's own error")

    try:
        with UnitOfWork(engine) as uow:
            read_then_lose_the_connection(uow)
        with pytest.raises(LookupError):
            failing_unit()
    finally:
        admin.dispose()
    with UnitOfWork(engine) as uow:  # and the pool hands out a live connection
        assert uow.session.scalar(text("SELECT 1")) == 1


def test_a_lasting_outage_is_given_up_after_the_patience_and_refusals_at_once():
    waits: list[float] = []
    calls = {"n": 0}

    def down() -> None:
        calls["n"] += 1
        raise OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))

    with pytest.raises(OperationalError):
        retry.retrying(down, patience=3, sleep=waits.append)
    assert calls["n"] == len(waits) + 1 > 3
    assert waits[:3] == [0.1, 0.2, 0.4] and max(waits) <= retry.MAX_WAIT

    def refused() -> None:
        calls["n"] += 1
        raise IntegrityError("INSERT", {}, psycopg.IntegrityError("duplicate key"))

    calls["n"] = 0
    with pytest.raises(IntegrityError):
        retry.retrying(refused, sleep=waits.append)
    assert calls["n"] == 1

    def back_on_the_third() -> str:
        # A driver's own error, as code on the driver's connection sees it.
        calls["n"] += 1
        if calls["n"] < 3:
            raise psycopg.errors.AdminShutdown("terminating connection")
        return "done"

    calls["n"] = 0
    assert retry.retrying(back_on_the_third, sleep=waits.append) == "done"


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        sqlite3.OperationalError("database is locked"),
    ],
)
def test_a_drivers_own_error_is_one_line_for_the_user(error):
    # The outbox's group commit talks to the driver's connection directly, so its
    # errors arrive unwrapped by SQLAlchemy.
    shown = as_user_error(error, "postgresql://mg:secret@db.example.com/mg")
    assert shown is not None
    assert shown.reason == "unavailable"
    assert str(error) in shown.message and "secret" not in shown.message
    assert "\n" not in shown.message


def test_execute_with_json_is_done_once_it_has_answered(
    engine, database_url, tmp_path, monkeypatch
):
    """Nothing after the answer touches the database: a database that goes away then
    cannot turn a finished execution into exit status 1."""
    from makegood.campaigns import preview

    campaign_id = _big_campaign(engine, tmp_path, 5)

    def gone(*args, **kwargs):
        raise OperationalError("SELECT", {}, psycopg.OperationalError("server closed"))

    monkeypatch.setattr(preview, "languages", gone)
    env = {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": database_url,
        "MAKEGOOD_NOW": gt.NOW.isoformat(),
        "MAKEGOOD_SECRET_KEY": SECRET,
    }
    done = cli.run(["--json", "campaigns", "execute", str(campaign_id)], env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"granted": 5, "offered": 0, "messages": 5}


# ------------------------------------------------------------------ the sender


class Outage:
    """The test's database going away: its backends terminated (as a restart or an
    operator does), and while ``down``, new connections refused."""

    def __init__(self, engine) -> None:
        self.name = engine.url.database
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.terminated: list[int] = []
        self.up: threading.Timer | None = None

    def terminate(self) -> None:
        with self.admin.connect() as conn:
            killed = conn.scalar(
                text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": self.name},
            )
        self.terminated.append(int(killed or 0))

    def refuse(self, refusing: bool) -> None:
        allow = "false" if refusing else "true"
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS {allow}'))

    def go_down(self, seconds: float) -> None:
        """Down now (before the caller goes on); back up ``seconds`` later."""
        self.refuse(True)
        self.terminate()
        self.up = threading.Timer(seconds, self.refuse, args=(False,))
        self.up.start()

    def wait_up(self) -> None:
        if self.up is not None:
            self.up.join()

    def close(self) -> None:
        self.wait_up()
        self.refuse(False)
        self.admin.dispose()


def _outbox(engine, tmp_path, size: int) -> int:
    """``size`` queued messages; their count."""
    campaign_id = _big_campaign(engine, tmp_path, size)
    execute(engine, campaign_id, gt.NOW, "ops", SECRET)
    return count(engine, Message, Message.status == "queued")


def _statuses(engine) -> Counter[str]:
    with UnitOfWork(engine) as uow:
        found = uow.session.execute(select(Message.status, func.count()).group_by(Message.status))
        return Counter(dict(found.all()))


def _never_retrieved(caplog) -> list[str]:
    gc.collect()  # asyncio reports an unretrieved error when its task is collected
    return [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]


def _at(handler, positions: set[int], action) -> None:
    """Run ``action`` as the sink receives the messages at these positions (1-based),
    before it answers."""

    def hook(envelope) -> None:
        if len(handler.seen) in positions:
            action()

    handler.refuse = hook


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_send_rides_out_its_backends_killed_mid_run(engine, database_url, tmp_path, sink, caplog):
    handler, port = sink
    total = _outbox(engine, tmp_path, SIZE)
    outage = Outage(engine)
    _at(handler, {10, 45, 80}, outage.terminate)
    try:
        counts = send(engine, settings(database_url, port, connections=4, batch_size=10))
    finally:
        outage.close()
    assert len(outage.terminated) == 3 and all(outage.terminated)
    assert counts.sent == total
    ids = handler.message_ids()
    assert len(ids) == total and set(ids.values()) == {1}  # each exactly once
    assert _statuses(engine) == Counter({"sent": total})
    assert count(engine, DeliveryAttempt) == total
    assert _never_retrieved(caplog) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_worker_rides_out_its_database_going_down_and_coming_back(
    engine, database_url, tmp_path, sink, caplog
):
    handler, port = sink
    total = _outbox(engine, tmp_path, SIZE)
    outage = Outage(engine)
    _at(handler, {30}, lambda: outage.go_down(1.5))
    config = settings(database_url, port, connections=4, batch_size=10)

    async def worker():
        stop = asyncio.Event()
        sender = for_root(build_root(config, FixedClock(SENT_AT), engine))
        sender.progress = lambda _: stop.set() if sender.counts.sent >= total else None
        # A worker that hangs fails here rather than holding up the run.
        return await asyncio.wait_for(sender.run("forever", stop), timeout=60)

    try:
        counts = asyncio.run(worker())
    finally:
        outage.close()
    assert outage.terminated and outage.terminated[0] > 0
    assert counts.sent == total
    ids = handler.message_ids()
    assert len(ids) == total and set(ids.values()) == {1}
    assert _statuses(engine) == Counter({"sent": total})
    assert _never_retrieved(caplog) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_outcome_written_before_its_answer_was_lost_is_written_once(engine, tmp_path):
    """The group's statement commits, then the connection dies before the answer comes
    back: the writer tries again on a new connection, which changes nothing, and still
    reports the messages as held (sent, not lost)."""
    _outbox(engine, tmp_path, 3)
    with UnitOfWork(engine) as uow:
        ids = outbox.lease(uow.session, "w1", 3, gt.NOW, 300)
        uow.commit()
    real = recording.async_connection
    lost: list[int] = []

    class LosesTheAnswer:
        def __init__(self, cursor: Any) -> None:
            self.cursor = cursor

        async def execute(self, *args: Any) -> None:
            await self.cursor.execute(*args)

        async def fetchall(self) -> list[Any]:
            rows = await self.cursor.fetchall()
            if not lost:
                lost.append(len(rows))
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return rows

    async def connection(engine_) -> Any:
        conn = await real(engine_)
        plain = conn.cursor
        conn.cursor = lambda: LosesTheAnswer(plain())
        return conn

    now = gt.NOW
    outcomes = [
        outbox.Outcome(i, 1, "sent", 250, "250 OK", now, now, f"k{i}@example.com", f"<{i}@x>", now)
        for i in ids
    ]

    async def write() -> set[int]:
        writer = recording.OutcomeWriter(engine, "w1", DeliverySettings())
        try:
            return await writer.write(outcomes)
        finally:
            await writer.close()

    mp = pytest.MonkeyPatch()
    mp.setattr(recording, "async_connection", connection)
    try:
        held = asyncio.run(write())
    finally:
        mp.undo()
    assert lost == [3]  # the first try wrote all three, and its answer was lost
    assert held == set(ids)
    assert count(engine, DeliveryAttempt) == 3
    assert _statuses(engine) == Counter({"sent": 3})


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_send_gives_up_after_its_patience_in_one_line_and_gives_back_its_leases(
    engine, database_url, tmp_path, sink, monkeypatch, caplog
):
    """Down for longer than the patience: `send` ends with the one-line database error
    and no traceback. Its leased letters never handed to the relay are given back (the
    database is back by then) so another sender can have them now; a second run sends
    the rest, each message once but the one the relay took as the database went."""
    handler, port = sink
    total = _outbox(engine, tmp_path, 60)
    monkeypatch.setattr(retry, "PATIENCE_SECONDS", 1.0)
    outage = Outage(engine)
    _at(handler, {10}, lambda: outage.go_down(2.0))
    env = {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": database_url,
        "MAKEGOOD_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "MAKEGOOD_SECRET_KEY": SECRET,
        "MAKEGOOD_NOW": SENT_AT.isoformat(),
        "MAKEGOOD_DELIVERY__CONNECTIONS": "1",
        "MAKEGOOD_DELIVERY__BATCH_SIZE": "20",
        "MAKEGOOD_DELIVERY__LEASE_SECONDS": "2",
    }
    started = time.monotonic()
    try:
        done = cli.run(["--json", "send", "--until-empty"], env=env)
        took = time.monotonic() - started
        outage.wait_up()
        left = _statuses(engine)
    finally:
        outage.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "database" and "\n" not in error["message"]
    assert took < 30
    # Nine sent and recorded; the tenth went to the relay and its outcome could not be
    # written, so it keeps its lease; every other letter leased was given back.
    assert left["sent"] == 9 and left["sending"] == 1
    assert left["queued"] == total - 10
    assert _never_retrieved(caplog) == []

    handler.refuse = lambda envelope: None
    again = cli.run(["--json", "send", "--until-empty"], env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _statuses(engine) == Counter({"sent": total})
    ids = handler.message_ids()
    assert len(ids) == total
    assert sorted(ids.values()) == [1] * (total - 1) + [2]  # the tenth, same Message-ID


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
def test_a_sender_that_fails_gives_back_what_it_never_handed_over(
    engine, database_url, tmp_path, sink, monkeypatch, caplog
):
    """Any error ends the run, and the letters it leased and never handed to the channel
    (in its queue, or read ahead) are released at once, not left to their lease."""
    from makegood.adapters.smtp import SmtpChannel

    _, port = sink
    total = _outbox(engine, tmp_path, 60)
    real = SmtpChannel.send
    calls: list[int] = []

    async def breaks_on_the_fifth(self, envelope):
        calls.append(1)
        if len(calls) == 5:
            # Once the next batch is read ahead: the rest of this one and that one.
            for _ in range(500):
                if _statuses(engine)["sending"] == 16:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            raise RuntimeError("the channel broke")
        return await real(self, envelope)

    monkeypatch.setattr(SmtpChannel, "send", breaks_on_the_fifth)
    config = settings(database_url, port, connections=1, batch_size=10)
    with pytest.raises(RuntimeError, match="the channel broke"):
        send(engine, config)
    left = _statuses(engine)
    # Four sent; the fifth was with the channel when it broke, so it keeps its lease;
    # the rest of its batch and the batch read ahead are queued again.
    assert left == Counter({"sent": 4, "sending": 1, "queued": total - 5})
    assert _never_retrieved(caplog) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_sender_ends_even_when_a_send_swallows_its_cancellation(
    engine, database_url, tmp_path, sink, monkeypatch
):
    """The hang once seen after a restart: the run failed, its connections were
    cancelled, and one of them went on, because Python 3.11's wait_for (inside
    aiosmtplib) returns the relay's answer instead of raising when the answer and the
    cancel arrive together. That one then waited for its next letter for ever, and the
    run (SIGTERM or not) with it."""
    from makegood.adapters.smtp import SmtpChannel
    from makegood.messaging.ports import Answer

    _, port = sink
    _outbox(engine, tmp_path, 40)
    calls: list[int] = []

    async def broken_or_stuck(self, envelope):
        calls.append(1)
        if len(calls) == 3:
            await asyncio.sleep(0.2)  # the first two are in flight
            raise RuntimeError("the channel broke")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return Answer("retry", detail="cancelled, and it was swallowed")
        return Answer("sent", code=250)

    monkeypatch.setattr(SmtpChannel, "send", broken_or_stuck)
    config = settings(database_url, port, connections=4, batch_size=10)
    ended: list[BaseException] = []

    def run() -> None:
        try:
            send(engine, config)
        except BaseException as exc:
            ended.append(exc)

    # A thread of its own: a sender that hangs must fail this test, not hold up the run.
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "the sender hung"
    assert [type(e) for e in ended] == [RuntimeError]


def test_an_async_unit_is_retried_while_the_database_is_away_and_not_past_its_patience():
    waits: list[float] = []
    calls = {"n": 0}

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def back_on_the_third() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise psycopg.errors.AdminShutdown("terminating connection")
        return "done"

    assert asyncio.run(retry.retrying_async(back_on_the_third, sleep=sleep)) == "done"
    assert waits == [0.1, 0.2]

    async def down() -> None:
        raise psycopg.OperationalError("connection refused")

    waits.clear()
    with pytest.raises(psycopg.OperationalError):
        asyncio.run(retry.retrying_async(down, patience=3, sleep=sleep))
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.6]  # the next, 3.2 s, would overrun the patience

    async def refused() -> None:
        raise psycopg.IntegrityError("duplicate key")

    waits.clear()
    with pytest.raises(psycopg.IntegrityError):
        asyncio.run(retry.retrying_async(refused, sleep=sleep))
    assert waits == []
