"""Reads what the engine needs from the database and writes what it found back:
COPY on PostgreSQL, one executemany on SQLite, always inside the caller's transaction."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from makegood.customers.models import Customer
from makegood.db.bulk import copy_csv, dialect, driver_connection, insert_rows
from makegood.impact.models import Impact

STORED = ("incident_id", "customer_id", "confidence", "magnitude", "rule", "evidence")
CHUNK_ROWS = 50_000
ZONES_SCHEMA = pa.schema([("customer_id", pa.string()), ("timezone", pa.string())])


def customer_zones(session: Session) -> pa.Table:
    """(customer_id, timezone) of every known customer, as an Arrow table."""
    if dialect(session) == "postgresql":
        raw = driver_connection(session)
        with tempfile.TemporaryFile() as spool:
            with (
                raw.cursor() as cursor,
                cursor.copy(
                    "COPY (SELECT customer_id, timezone FROM customers) TO STDOUT WITH (FORMAT csv)"
                ) as copy,
            ):
                for block in copy:
                    spool.write(block)
            if not spool.tell():  # no customers: an empty table, not an "empty CSV" error
                return ZONES_SCHEMA.empty_table()
            spool.seek(0)
            return pacsv.read_csv(
                spool,
                read_options=pacsv.ReadOptions(column_names=["customer_id", "timezone"]),
                convert_options=pacsv.ConvertOptions(
                    column_types=ZONES_SCHEMA, strings_can_be_null=False
                ),
            )
    rows = session.execute(select(Customer.customer_id, Customer.timezone)).all()
    ids, zones = (list(col) for col in zip(*rows, strict=True)) if rows else ([], [])
    return pa.table([pa.array(ids, pa.string()), pa.array(zones, pa.string())], schema=ZONES_SCHEMA)


def replace_impacts(session: Session, incident_id: int, impacts: pa.Table) -> None:
    """Replace the incident's impacts with the new set, in the caller's transaction.

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
    if impacts.num_rows == 0:
        return
    table = impacts.select(list(STORED[1:])).add_column(
        0, "incident_id", pa.repeat(pa.scalar(incident_id, pa.int32()), impacts.num_rows)
    )
    if dialect(session) == "postgresql":
        copy_csv(session, "impacts", STORED, _csv_chunks(table))
    else:
        columns = [table.column(name).to_pylist() for name in STORED]
        insert_rows(session, "impacts", STORED, zip(*columns, strict=True))


def _csv_chunks(table: pa.Table) -> Iterator[bytes]:
    """CSV for COPY, one batch ahead in a thread: Arrow writes the next batch (without
    the GIL) while PostgreSQL parses the current one."""
    batches = table.to_batches(max_chunksize=CHUNK_ROWS)
    if not batches:
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_csv, batches[0])
        for following in batches[1:]:
            ready = pending.result()
            pending = pool.submit(_csv, following)
            yield ready
        yield pending.result()


def _csv(batch: pa.RecordBatch) -> bytes:
    buffer = io.BytesIO()
    pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
    return buffer.getvalue()
