"""Reads what the engine needs from the database and writes what it found back:
on PostgreSQL the customers are read as Arrow in the caller's snapshot and the impacts
written with COPY; on SQLite, a query and an executemany per batch. Writes are always
inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from makegood.db.arrow import arrow_text
from makegood.db.bulk import copy_text, dialect, insert_rows
from makegood.impact.models import Impact

STORED = ("incident_id", "customer_id", "confidence", "magnitude", "rule", "evidence")
CHUNK_ROWS = 50_000


def replace_impacts(
    session: Session, incident_id: int, batches: Iterable[pa.RecordBatch]
) -> dict[str, int]:
    """Replace the incident's impacts with the new set, in the caller's transaction,
    a batch at a time; answers how many were stored by confidence.

    PostgreSQL: the incident's own partition is emptied (TRUNCATE) or created, so
    the new rows go into an empty table and index, as fast as a fresh COPY.
    """
    if dialect(session) == "postgresql":
        partition = f"impacts_{int(incident_id)}"
        session.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {partition} PARTITION OF impacts "
                f"FOR VALUES IN ({int(incident_id)})"
            )
        )
        session.execute(text(f"TRUNCATE {partition}"))
    else:
        session.execute(delete(Impact).where(Impact.incident_id == incident_id))
    counts = {"confirmed": 0, "possible": 0}
    tagged = (_stored(batch, incident_id, counts) for batch in batches if batch.num_rows)
    if dialect(session) == "postgresql":
        copy_text(session, "impacts", STORED, _text_chunks(tagged))
    else:
        for batch in tagged:
            columns = [batch.column(name).to_pylist() for name in STORED]
            insert_rows(session, "impacts", STORED, zip(*columns, strict=True))
    return counts


def _stored(batch: pa.RecordBatch, incident_id: int, counts: dict[str, int]) -> pa.RecordBatch:
    """The batch as the impacts table takes it, counted by confidence on the way."""
    for entry in pc.value_counts(batch.column("confidence")).to_pylist():
        counts[str(entry["values"])] += int(entry["counts"])
    incident = pa.repeat(pa.scalar(incident_id, pa.int32()), batch.num_rows)
    columns = [incident, *(batch.column(name) for name in STORED[1:])]
    return pa.RecordBatch.from_arrays(columns, names=list(STORED))


def _text_chunks(batches: Iterable[pa.RecordBatch]) -> Iterator[memoryview]:
    """COPY text, one batch ahead in a thread: Arrow formats the next batch (without
    the GIL) while PostgreSQL parses the current one. Large batches are cut to
    CHUNK_ROWS."""
    pieces = (piece for batch in batches for piece in _cut(batch))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for piece in pieces:
            following = pool.submit(arrow_text, piece)
            if pending is not None:
                yield pending.result()
            pending = following
        if pending is not None:
            yield pending.result()


def _cut(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    for offset in range(0, batch.num_rows, CHUNK_ROWS):
        yield batch.slice(offset, CHUNK_ROWS)
