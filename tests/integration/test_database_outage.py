"""The database going away under a command: a backend killed mid-transaction (as
``pg_terminate_backend`` or a server restart does) is ridden out by the steps that can
start again, and anything that still reaches the user is one line, never a traceback.
chaos/database.py does the same with real restarts, at scale."""

from __future__ import annotations

import json
import os
import sqlite3

import psycopg
import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from makegood.campaigns.execution import execute
from makegood.credits.models import LedgerEntry, Offer
from makegood.db import retry
from makegood.db.uow import UnitOfWork
from makegood.kits.cli.errors import as_user_error
from makegood.messaging.models import Message
from tests.conftest import PG_ADMIN_URL
from tests.integration.test_exactly_once import _big_campaign
from tests.support import cli
from tests.support import truth as gt
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
