"""Large reads as Arrow: beside the caller's transaction while it has written nothing,
through it once it has (so its own rows are seen)."""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import text

from makegood.db import arrow
from makegood.db.uow import UnitOfWork

SCHEMA = pa.schema([("key", pa.string()), ("value", pa.string())])
READ = "SELECT key, value FROM arrow_probe ORDER BY key"


def _table(engine) -> None:
    with engine.begin() as con:
        con.execute(text("DROP TABLE IF EXISTS arrow_probe"))
        con.execute(text("CREATE TABLE arrow_probe (key VARCHAR(20), value VARCHAR(20))"))
        con.execute(text("INSERT INTO arrow_probe VALUES ('a', 'x'), ('b', NULL)"))


def test_a_clean_transaction_reads_beside_itself_and_a_dirty_one_through_itself(
    engine, monkeypatch
):
    _table(engine)
    through_session = []
    original = arrow._through_session

    def counted(*args):
        through_session.append(args[1])
        return original(*args)

    monkeypatch.setattr(arrow, "_through_session", counted)
    with UnitOfWork(engine) as uow:
        first = arrow.read_arrow(uow.session, READ, SCHEMA)
        assert first.schema == SCHEMA
        assert first.to_pylist() == [{"key": "a", "value": "x"}, {"key": "b", "value": None}]
        assert through_session == []  # PostgreSQL read it beside; SQLite has one way
        uow.session.execute(text("INSERT INTO arrow_probe VALUES ('c', 'mine')"))
        second = arrow.read_arrow(uow.session, READ, SCHEMA)
        assert [r["key"] for r in second.to_pylist()] == ["a", "b", "c"]
        if engine.dialect.name == "postgresql":
            assert through_session == [READ]


def test_an_empty_result_is_an_empty_table(engine):
    _table(engine)
    with UnitOfWork(engine) as uow:
        uow.session.execute(text("DELETE FROM arrow_probe"))
        assert arrow.read_arrow(uow.session, READ, SCHEMA).num_rows == 0
    with UnitOfWork(engine) as uow:
        empty = arrow.read_arrow(uow.session, READ + " LIMIT 0", SCHEMA)
        assert empty.num_rows == 0 and empty.schema == SCHEMA
