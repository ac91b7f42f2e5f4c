"""What the CLI prints for people (no --json), run as a process whose output is a pipe:
nothing a user must copy is cut, counts read as English, and lists that stop early
say how to see the rest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from makegood.credits.models import Offer
from makegood.db.uow import UnitOfWork
from makegood.sources.service import add_source
from tests.support import truth as gt
from tests.support.delivery import executed
from tests.support.ports import CHECK
from tests.support.world import build_world


def makegood(*args: str, db: str, cwd: Path) -> str:
    """The command's standard output; it must succeed."""
    env = {**os.environ, "MAKEGOOD_DATABASE_URL": db, "MAKEGOOD_NOW": gt.NOW.isoformat()}
    env.pop("COLUMNS", None)  # as a pipe sees it, whatever terminal runs the tests
    proc = subprocess.run(
        [sys.executable, "-m", "makegood", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"makegood {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_tables_keep_long_paths_whole_when_output_is_a_pipe(engine, database_url, tmp_path):
    world = build_world(engine, tmp_path / "data")
    deep = tmp_path / "a-rather-long-directory-for-usage-data" / "exported-from-the-warehouse"
    deep.mkdir(parents=True)
    source = next((tmp_path / "data").glob("usage_events*"))
    moved = deep / f"every-usage-event-of-march-2026{source.suffix}"
    moved.write_bytes(source.read_bytes())
    with UnitOfWork(engine) as uow:
        add_source(uow.session, "usage_events", str(moved), gt.NOW, "t", **CHECK)
        uow.commit()
    assert len(str(moved)) > 80

    listed = makegood("sources", "list", db=database_url, cwd=tmp_path)
    assert "…" not in listed
    # The whole path on one line, so it can be copied as it is.
    assert any(str(moved) in line for line in listed.splitlines()), listed

    incidents = makegood("incidents", "list", db=database_url, cwd=tmp_path)
    assert "…" not in incidents
    assert f"{world.shipping}" in incidents and "shipping outage" in incidents


def test_incidents_show_says_how_many_more_impacts_there_are(engine, database_url, tmp_path):
    world = build_world(engine, tmp_path / "data")
    total = len(world.truth.shipping_confirmed)
    assert total > 10, "the test world needs more impacts than the default list"

    shown = makegood("incidents", "show", str(world.shipping), db=database_url, cwd=tmp_path)
    assert "cause: —" in shown and "None" not in shown
    hint = f"… and {total - 10} more: makegood incidents show {world.shipping} --top {total}"
    assert hint + " lists them all" in shown, shown

    # The command it names lists every impact, and then no hint is needed.
    every = makegood(
        "incidents", "show", str(world.shipping), "--top", str(total), db=database_url, cwd=tmp_path
    )
    assert "more:" not in every
    listed = {c for c in world.truth.shipping_confirmed if re.search(rf"\b{re.escape(c)}\b", every)}
    assert listed == set(world.truth.shipping_confirmed)


def test_billing_export_counts_entries_in_english(engine, database_url, tmp_path):
    world = build_world(engine, tmp_path / "data")
    executed(engine, world.shipping)
    with UnitOfWork(engine) as uow:
        granted = uow.session.scalars(select(Offer.id).where(Offer.status == "granted")).all()
    assert len(granted) > 1

    many = makegood("billing", "export", "--out", "b1.csv", db=database_url, cwd=tmp_path)
    assert f"Exported {len(granted)} entries to b1.csv" in many
    makegood("credits", "void", str(granted[0]), "--reason", "test", db=database_url, cwd=tmp_path)
    one = makegood("billing", "export", "--out", "b2.csv", db=database_url, cwd=tmp_path)
    assert "Exported 1 entry to b2.csv" in one
    none = makegood("billing", "export", "--out", "b3.csv", db=database_url, cwd=tmp_path)
    assert "Exported 0 entries to b3.csv" in none
    assert "(ies)" not in many + one + none
