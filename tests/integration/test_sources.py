from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from makegood.core.errors import InvalidInputError
from makegood.db.uow import UnitOfWork
from makegood.sources.service import add_source, list_sources
from tests.conftest import NOW
from tests.support.ports import CHECK

EVENTS = "customer_id,occurred_at,service,outcome,device,region\n"


def add(engine, table, path):
    with UnitOfWork(engine) as uow:
        added = add_source(uow.session, table, str(path), NOW, "test", **CHECK)
        uow.commit()
    return added


def registered(engine) -> dict[str, str]:
    with UnitOfWork(engine) as uow:
        return {s.table_name: s.path for s in list_sources(uow.session)}


def test_csv_source_is_checked_counted_and_registered(engine, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        EVENTS + "c1,2026-03-02T18:00:00-05:00,streaming,ok,tv,na\n"
        "c2,2026-03-02T23:00:00Z,streaming,error,,\n"
    )
    added = add(engine, "usage_events", path)
    assert (added.format, added.rows, added.replaced) == ("csv", 2, None)
    assert registered(engine) == {"usage_events": str(path)}


def test_a_glob_of_parquet_files_is_one_source_and_readding_replaces(engine, tmp_path):
    ts = pa.timestamp("us", tz="UTC")
    for day in (1, 2):
        pq.write_table(
            pa.table(
                {
                    "customer_id": ["c1"],
                    "order_id": [f"o{day}"],
                    "due_at": pa.array(
                        [datetime.fromisoformat(f"2026-03-0{day}T12:00:00+00:00")], ts
                    ),
                    "shipped_at": pa.array([None], ts),
                }
            ),
            tmp_path / f"ship-{day}.parquet",
        )
    first = add(engine, "shipments", tmp_path / "ship-1.parquet")
    assert first.rows == 1
    second = add(engine, "shipments", tmp_path / "ship-*.parquet")
    assert (second.rows, second.replaced) == (2, str(tmp_path / "ship-1.parquet"))
    assert registered(engine) == {"shipments": str(tmp_path / "ship-*.parquet")}


def test_missing_and_mistyped_columns_are_named(engine, tmp_path):
    path = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "customer_id": ["c1"],
                "occurred_at": pa.array([datetime(2026, 3, 2, 18)], pa.timestamp("us")),  # naive
                "service": ["streaming"],
                "outcome": ["ok"],
                "device": [1],
            }
        ),
        path,
    )
    with pytest.raises(InvalidInputError) as caught:
        add(engine, "usage_events", path)
    problems = caught.value.problems
    assert (
        "column occurred_at is TIMESTAMP; it must be a timestamp with time zone or text" in problems
    )
    assert "column device is BIGINT; it must be text" in problems
    assert "column region is missing" in problems
    assert registered(engine) == {}


def test_bad_values_are_counted_with_the_first_place(engine, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        EVENTS + "c1,2026-03-02T18:00:00Z,streaming,ok,tv,na\n"
        "c2,2026-03-02T18:00:00,streaming,ok,tv,na\n"
        "c3,2026-03-02T18:00:00Z,Streaming,failed,tv,na\n"
        ",2026-03-02T18:00:00Z,streaming,failed,tv,na\n"
    )
    with pytest.raises(InvalidInputError) as caught:
        add(engine, "usage_events", path)
    text = "\n".join(caught.value.problems)
    assert (
        f"column occurred_at is not an ISO-8601 instant with an offset (e.g. 2026-03-02T18:00:00Z): 1 row, first at {path}, row 2: 2026-03-02T18:00:00"
        in text
    )
    assert f"column outcome must be ok or error: 2 rows, first at {path}, row 3: failed" in text
    assert "column service must be a lowercase service name: 1 row" in text
    assert f"column customer_id is empty: 1 row, first at {path}, row 4" in text
    assert registered(engine) == {}


def test_unknown_table_and_missing_file_are_clear(engine, tmp_path):
    with pytest.raises(InvalidInputError, match="'orders' is not a source table"):
        add(engine, "orders", tmp_path / "x.csv")
    with pytest.raises(InvalidInputError, match="no file matches"):
        add(engine, "shipments", tmp_path / "nothing-*.csv")
    with pytest.raises(InvalidInputError, match="unknown format"):
        add(engine, "shipments", tmp_path / "data.json")
