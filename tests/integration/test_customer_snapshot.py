"""The customers snapshot an impact run reads instead of the table: written for the
generation each import commits, used only while it is that generation, never kept when
an import committed while it was being read, and giving the same impacts."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import select

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


def _import(engine, path: Path) -> None:
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, path, gt.NOW)
        uow.commit()


def test_a_run_reads_the_current_snapshot_and_finds_the_same_impacts(engine, world, tmp_path):
    cache = tmp_path / "cache"
    source = tmp_path / "data" / "customers.csv"
    _import(engine, source)  # the world imported once already: this is generation 2
    written = snapshot.refresh(engine, cache)
    assert written is not None and written.name == "customer-zones-2.parquet"
    with UnitOfWork(engine) as uow:
        assert uow.session.scalar(select(snapshot.CustomerGeneration.generation)) == 2
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
    changed = tmp_path / "changed.csv"
    with changed.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, [*rows[0].keys()])
        writer.writeheader()
        writer.writerows(rows)
    _import(engine, changed)
    with UnitOfWork(engine) as uow:
        found = snapshot.current(uow.session, cache)
    assert not isinstance(found, Path)  # read from the database, not the old file
    zones = dict(zip(*found.to_pydict().values(), strict=True))
    assert zones[rows[0]["customer_id"]] == "Asia/Tokyo"
    assert sorted(p.name for p in cache.glob("*.parquet")) == [
        "customer-zones-2.parquet",
        "customer-zones-3.parquet",
    ]
    _import(engine, changed)
    snapshot.refresh(engine, cache)
    assert sorted(p.name for p in cache.glob("*.parquet")) == [
        "customer-zones-3.parquet",
        "customer-zones-4.parquet",
    ]


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
