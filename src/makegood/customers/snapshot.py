"""Every customer's (customer_id, timezone) as a Parquet file, for the impact engines.

An impact run needs every known customer's id and time zone. Read from PostgreSQL
that is seconds at ten million customers; read from a Parquet file by the engine
itself it is almost nothing. Each customers import sets ``customer_generation`` to a
new random 62-bit number in its own transaction, and a snapshot is named by the
generation it holds (``customer-zones-<generation>.parquet`` in the ``cache_dir``
setting), so a run uses a file only when it is of the generation the database says is
current. Random, not counted: two databases sharing a cache directory (a copy of
production for staging, or databases made from one template) would otherwise reach
the same number with different customers, and one would read the other's file. Otherwise the
run reads the rows from the database, as always, and keeps them as the snapshot when
no import committed meanwhile. ``customers import`` writes the new snapshot once it
has committed, so the next run finds it.

Rows written to ``customers`` other than by an import (by hand, in SQL) do not raise
the generation: delete the cache directory after such a change.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from makegood.customers.models import CustomerGeneration
from makegood.db.arrow import read_arrow

ZONES_SCHEMA = pa.schema([("customer_id", pa.string()), ("timezone", pa.string())])
PREFIX = "customer-zones-"
KEPT = 2  # generations kept: a run may still be reading the one before the newest


def generation(session: Session) -> int:
    return int(session.scalar(select(CustomerGeneration.generation)) or 0)


def bump(session: Session) -> None:
    """A customers import changed the table: snapshots of earlier generations are old."""
    session.execute(update(CustomerGeneration).values(generation=secrets.randbits(62) + 1))


def read_zones(session: Session) -> pa.Table:
    """(customer_id, timezone) of every customer, read from the database now."""
    return read_arrow(session, "SELECT customer_id, timezone FROM customers", ZONES_SCHEMA)


def current(session: Session, directory: Path | None) -> pa.Table | Path:
    """The customers for an impact run: the snapshot file when it is current, else the
    rows read from the database (kept as the snapshot when nothing changed meanwhile)."""
    if directory is None:
        return read_zones(session)
    seen = generation(session)
    path = directory / f"{PREFIX}{seen}.parquet"
    if path.is_file():
        return path
    table = read_zones(session)
    if generation(session) == seen:  # no import committed while the rows were read
        _keep(table, path)
    return table


def refresh(engine: Engine, directory: Path | None) -> Path | None:
    """Write the current generation's snapshot if it is missing (after an import)."""
    if directory is None:
        return None
    with Session(engine) as session:
        current(session, directory)
        path = directory / f"{PREFIX}{generation(session)}.parquet"
    return path if path.is_file() else None


def _keep(table: pa.Table, path: Path) -> None:
    """Write ``path`` whole or not at all, then drop all but the newest generations."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        pq.write_table(table, partial, compression="zstd")
        os.replace(partial, path)
    except OSError:
        return  # a cache that cannot be written only costs the next run the read
    written = []
    for kept in path.parent.glob(f"{PREFIX}*.parquet"):
        try:
            written.append((kept.stat().st_mtime_ns, kept))
        except FileNotFoundError:  # another process pruned it meanwhile
            continue
    for _, stale in sorted(written)[:-KEPT]:
        stale.unlink(missing_ok=True)
