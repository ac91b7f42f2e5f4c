"""Shared fixtures. Integration tests run on SQLite and on the PostgreSQL server at
127.0.0.1:5432. Every test gets a database of its own, which it drops when it ends.

Running every Alembic migration for each test costs more than most tests, so each test
run (each xdist worker) migrates one template per backend once and copies it for every
test that asks for ``engine``: the SQLite file with ``shutil.copyfile``, the PostgreSQL
database with ``CREATE DATABASE ... TEMPLATE``. A test that asks only for
``database_url`` still gets an empty database, as ``makegood init`` expects.
"""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from tests.support.demo_port import demo_port_held

PG_ADMIN_URL = os.environ.get(
    "MAKEGOOD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to the newest schema, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "makegood.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()  # the last connection checkpoints the WAL into the file
    return path


@dataclass
class PgDatabases:
    """This test run's databases on the PostgreSQL server: a template migrated once,
    and a database per test, empty or copied from the template.

    Dropping a database makes the server checkpoint, which can take a good part of a
    second on a busy machine, so a test's database is dropped by a thread of its own
    while the next test runs; ``close`` waits for every drop, then drops the template.
    """

    admin: Engine
    template: str
    counter: itertools.count[int] = field(default_factory=itertools.count)
    doomed: queue.SimpleQueue[str | None] = field(default_factory=queue.SimpleQueue)
    failures: list[str] = field(default_factory=list)
    dropper: threading.Thread | None = None

    def url(self, name: str) -> str:
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def create(self, migrated: bool) -> str:
        name = f"{self.template}_{next(self.counter)}"
        source = f' TEMPLATE "{self.template}"' if migrated else ""
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{source}'))
        return name

    def drop_later(self, name: str) -> None:
        if self.dropper is None:
            self.dropper = threading.Thread(target=self._drop_all, name="dropdb", daemon=True)
            self.dropper.start()
        self.doomed.put(name)

    def close(self) -> None:
        """Waits for the databases queued to go, then drops the template."""
        if self.dropper is not None:
            self.doomed.put(None)
            self.dropper.join()
        self._drop(self.template)
        assert not self.failures, "databases left behind:\n" + "\n".join(self.failures)

    def _drop_all(self) -> None:
        while (name := self.doomed.get()) is not None:
            try:
                self._drop(name)
            except Exception as exc:  # reported by close, in the test run's own thread
                self.failures.append(f"{name}: {exc}")

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    """Creates this run's template database and migrates it; at the end drops it and
    every database made from it."""
    template = f"makegood_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{template}"'))
    databases = PgDatabases(admin, template)
    try:
        engine = make_engine(databases.url(template))
        migrate.upgrade(engine)
        engine.dispose()  # CREATE DATABASE ... TEMPLATE needs it without connections
        yield databases
    finally:
        try:
            databases.close()
        finally:
            admin.dispose()


@pytest.fixture(scope="session")
def pg_database(pg_databases: PgDatabases) -> str:
    """The URL of this run's template database, migrated to the newest schema.
    Tests must not write to it: ``database_url`` gives each test a copy."""
    return pg_databases.url(pg_databases.template)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database of this test's own: a new SQLite file, or a new PostgreSQL database.

    Empty, unless the test also uses ``engine``: then it is already a copy of the
    migrated template, so ``engine`` has nothing left to migrate."""
    migrated = "engine" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "makegood.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    name = databases.create(migrated)
    yield databases.url(name)
    databases.drop_later(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to the newest schema."""
    eng = make_engine(database_url)
    if migrate.current_revision(eng) != migrate.SCHEMA_HEAD:
        migrate.upgrade(eng)  # not a copy of the template (or the template is behind)
    yield eng
    eng.dispose()


@pytest.fixture
def demo_port() -> Iterator[None]:
    """For a test that runs `makegood demo` without --port: see tests/support/demo_port.py."""
    with demo_port_held():
        yield


@pytest.fixture
def uow(engine: Engine) -> Iterator[UnitOfWork]:
    with UnitOfWork(engine) as unit:
        yield unit
