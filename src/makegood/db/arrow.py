"""Large reads as Arrow tables, and Arrow batches in COPY's text format for writes.

On PostgreSQL, while the caller's transaction has written nothing, a second
connection reads in its snapshot (exported with ``pg_export_snapshot``), through ADBC:
binary COPY decoded in C, no Python object per row, about three times faster here
than COPY through psycopg for 2M short rows. It sees the committed rows a statement
of the caller's transaction would see at that moment, whatever commits meanwhile.
Once the caller's transaction has written something, its own uncommitted rows must be
seen too, so the read goes through the session's connection (COPY as CSV). Elsewhere
the rows come through the session.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session


def read_arrow(session: Session, sql: str, schema: pa.Schema) -> pa.Table:
    """The rows of ``sql`` (text columns, in ``schema``'s order) as an Arrow table."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        rows = session.execute(text(sql)).all()
        columns: list[Sequence[Any]] = (
            list(zip(*rows, strict=True)) if rows else [() for _ in schema]
        )
        arrays = [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)]
        return pa.table(arrays, schema=schema)
    clean, snapshot = session.execute(
        text("SELECT pg_current_xact_id_if_assigned() IS NULL, pg_export_snapshot()")
    ).one()
    if not clean:
        return _through_session(session, sql, schema)
    import adbc_driver_postgresql.dbapi as adbc

    url = bind.engine.url if isinstance(bind, Connection) else bind.url
    uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc.connect(uri, autocommit=True) as con, con.cursor() as cursor:
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        quoted = str(snapshot).replace("'", "''")
        cursor.execute(f"SET TRANSACTION SNAPSHOT '{quoted}'")
        cursor.execute(sql)
        table: pa.Table = cursor.fetch_arrow_table()
        cursor.execute("COMMIT")
    plain = pa.schema([pa.field(f.name, f.type) for f in table.schema])
    return table.cast(plain).rename_columns(schema.names).cast(schema)


def _through_session(session: Session, sql: str, schema: pa.Schema) -> pa.Table:
    raw: Any = session.connection().connection.driver_connection
    with tempfile.TemporaryFile() as spool:
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy,
        ):
            for block in copy:
                spool.write(block)
        if not spool.tell():  # no rows: an empty table, not an "empty CSV" error
            return schema.empty_table()
        spool.seek(0)
        return pacsv.read_csv(
            spool,
            read_options=pacsv.ReadOptions(column_names=schema.names),
            convert_options=pacsv.ConvertOptions(column_types=schema, strings_can_be_null=False),
        )


# Characters COPY's text format gives a meaning to; backslash first, so the escapes
# added after it are not escaped again.
_TEXT_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_NEEDS_ESCAPE = "[\\\\\t\n\r]"


def arrow_text(batch: pa.RecordBatch) -> memoryview:
    """The batch in PostgreSQL COPY's text format: a tab between fields, a newline after
    each row, ``\\N`` for null, backslash escapes only in the columns that hold a value
    that needs one. PostgreSQL parses it about a fifth faster than the same rows as CSV,
    where every quote inside a JSON value is doubled and the value quoted."""
    if not batch.num_rows:
        return memoryview(b"")
    fields = [_text_field(column) for column in batch.columns]
    lines = pc.binary_join_element_wise(*fields, pa.scalar("\t", pa.large_string()))
    lines = pa.concat_arrays([lines, pa.array([""], lines.type)])  # a newline after the last
    rows = pa.LargeListArray.from_arrays([0, len(lines)], lines)
    whole = pc.binary_join(rows, pa.scalar("\n", pa.large_string()))
    return memoryview(whole[0].as_buffer())


def _text_field(column: pa.Array) -> pa.Array:
    """One column as large strings, escaped for COPY's text format."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    column = pc.cast(column, pa.large_string())  # 64-bit offsets: long evidence joins safely
    if pc.any(pc.match_substring_regex(column, _NEEDS_ESCAPE)).as_py():
        for char, escape in _TEXT_ESCAPES:
            column = pc.replace_substring(column, char, escape)
    return pc.fill_null(column, "\\N")
