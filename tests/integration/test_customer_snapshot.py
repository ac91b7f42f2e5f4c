"""The customers snapshot an impact run reads instead of the table: written for the
generation each import commits, used only while it is that generation, never kept when
an import committed while it was being read, and giving the same impacts."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from makegood.customers import snapshot
from makegood.customers.service import import_customers
from makegood.db.uow import UnitOfWork
from makegood.impact.models import Impact
from makegood.impact.service import run_impact
from tests.support import truth as gt
from tests.support.ports import IMPACT


def _impacts(engine, incident: int) -> set[tuple]:
    with UnitOfWork(engine) as uow:
        return {
            (i.customer_id, i.confidence, str(i.magnitude), i.rule, i.evidence)
            for i in uow.session.scalars(select(Impact).where(Impact.incident_id == incident))
        }


def generation(engine) -> int:
    with UnitOfWork(engine) as uow:
        return snapshot.generation(uow.session)


def _written(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, [*rows[0].keys()])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _import(engine, path: Path) -> None:
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, path, gt.NOW)
        uow.commit()


def test_a_run_reads_the_current_snapshot_and_finds_the_same_impacts(engine, world, tmp_path):
    cache = tmp_path / "cache"
    source = tmp_path / "data" / "customers.csv"
    _import(engine, source)  # the world imported once already: a second generation
    written = snapshot.refresh(engine, cache)
    first = generation(engine)
    assert written is not None and written.name == f"customer-zones-{first}.parquet"
    with UnitOfWork(engine) as uow:
        from_table = snapshot.read_zones(uow.session)
    assert pq.read_table(written).sort_by("customer_id").equals(from_table.sort_by("customer_id"))

    before = _impacts(engine, world.streaming)
    with UnitOfWork(engine) as uow:
        run_impact(uow.session, world.streaming, gt.NOW, "t", snapshots=cache, **IMPACT)
        uow.commit()
    assert _impacts(engine, world.streaming) == before

    # A new import makes the file old: the next run reads the table and writes the new one.
    rows = list(csv.DictReader(source.open()))
    rows[0]["timezone"] = "Asia/Tokyo"
    changed = _written(tmp_path / "changed.csv", rows)
    _import(engine, changed)
    with UnitOfWork(engine) as uow:
        found = snapshot.current(uow.session, cache)
    assert not isinstance(found, Path)  # read from the database, not the old file
    zones = dict(zip(*found.to_pydict().values(), strict=True))
    assert zones[rows[0]["customer_id"]] == "Asia/Tokyo"
    second = generation(engine)
    assert second != first
    assert {p.name for p in cache.glob("*.parquet")} == {
        f"customer-zones-{first}.parquet",
        f"customer-zones-{second}.parquet",
    }
    _import(engine, changed)
    snapshot.refresh(engine, cache)
    assert {p.name for p in cache.glob("*.parquet")} == {  # the two newest kept
        f"customer-zones-{second}.parquet",
        f"customer-zones-{generation(engine)}.parquet",
    }


def test_rows_read_while_an_import_commits_are_not_kept(engine, world, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    real = snapshot.read_zones

    def read_while_importing(session):
        table = real(session)
        with UnitOfWork(engine) as other:  # another process's import commits meanwhile
            snapshot.bump(other.session)
            other.commit()
        return table

    monkeypatch.setattr(snapshot, "read_zones", read_while_importing)
    with UnitOfWork(engine) as uow:
        found = snapshot.current(uow.session, cache)
    assert not isinstance(found, Path) and found.num_rows > 0
    assert list(cache.glob("*.parquet")) == []  # which generation it holds is unknown


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_two_copies_of_one_database_sharing_a_cache_never_read_each_other(
    engine, database_url, world, tmp_path
):
    """A copy (staging from production; databases made from one template) imports
    different customers, each once: counted generations would be equal, and the second
    run would read the first one's file."""
    cache = tmp_path / "cache"
    copy_path = tmp_path / "copy.db"
    original, target = sqlite3.connect(make_url(database_url).database), sqlite3.connect(copy_path)
    original.backup(target)  # the whole database, what the WAL holds included
    original.close()
    target.close()
    copy = create_engine(f"sqlite:///{copy_path}")
    source = tmp_path / "data" / "customers.csv"
    rows = [{**row, "timezone": "Asia/Tokyo"} for row in csv.DictReader(source.open())]
    moved = _written(tmp_path / "moved.csv", rows)
    _import(engine, source)
    _import(copy, moved)
    assert snapshot.refresh(engine, cache) is not None
    with UnitOfWork(copy) as uow:
        found = snapshot.current(uow.session, cache)
    zones = pq.read_table(found) if isinstance(found, Path) else found
    assert set(zones.column("timezone").to_pylist()) == {"Asia/Tokyo"}
    copy.dispose()
