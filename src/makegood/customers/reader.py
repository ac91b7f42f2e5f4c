"""Reads a customers file in batches, every column as text, so memory stays bounded
however large the file is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from makegood.core.errors import InvalidInputError
from makegood.customers.rules import COLUMNS, OPTIONAL

BATCH_ROWS = 50_000


def file_format(path: Path) -> str:
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if ".csv" in name:
        return "csv"
    raise InvalidInputError(f"{path}: unknown format; use a .csv or .parquet file")


def count_rows(path: Path) -> int:
    """Rows in the file: Parquet metadata, or newlines in a CSV (for progress only)."""
    if file_format(path) == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    if path.name.lower().endswith(".gz"):
        return 0
    lines = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def text_batches(path: Path) -> Iterator[dict[str, list[str]]]:
    """Yield batches as {column: [text, ...]}; absent optional columns are empty text."""
    try:
        for batch in _arrow_batches(path):
            yield _as_text(batch, path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc})") from None


def _arrow_batches(path: Path) -> Iterator[pa.RecordBatch]:
    if file_format(path) == "parquet":
        parquet = pq.ParquetFile(path)
        _check_schema(parquet.schema_arrow, path)
        wanted = [c for c in COLUMNS if c in parquet.schema_arrow.names]
        yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted)
        return
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=1 << 23),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in COLUMNS}, strings_can_be_null=False
        ),
    )
    _check_schema(reader.schema, path)
    yield from reader


def _check_schema(schema: pa.Schema, path: Path) -> None:
    missing = [c for c in COLUMNS if c not in schema.names and c not in OPTIONAL]
    if missing:
        raise InvalidInputError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"a customers file has the columns {','.join(COLUMNS)}"
        )
    for name in COLUMNS:
        if name not in schema.names:
            continue
        kind = schema.field(name).type
        if pa.types.is_floating(kind):
            raise InvalidInputError(
                f"{path}: column {name} is stored as a floating-point number; "
                "store prices as decimal or text so no cent is lost"
            )
        if pa.types.is_timestamp(kind):
            raise InvalidInputError(
                f"{path}: column {name} must be a date or text, not a timestamp"
            )


def _as_text(batch: pa.RecordBatch, path: Path) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for name in COLUMNS:
        if name not in batch.schema.names:
            columns[name] = [""] * batch.num_rows
            continue
        values = batch.column(name).cast(pa.string()).to_pylist()
        columns[name] = ["" if v is None else v for v in values]
    return columns
