"""Shared fixtures. Integration tests run on SQLite and on the PostgreSQL server at
127.0.0.1:5432, in a database this test run creates and drops, one schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, text

from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork

PG_ADMIN_URL = os.environ.get(
    "MAKEGOOD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of this test run's own; dropped when the run ends."""
    name = f"makegood_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database URL: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "makegood.db"
        yield f"sqlite:///{path}"
        return
    base: str = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to the newest schema."""
    eng = make_engine(database_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def uow(engine: Engine) -> Iterator[UnitOfWork]:
    with UnitOfWork(engine) as unit:
        yield unit
