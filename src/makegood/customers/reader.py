"""Reads a customers file in batches, every column as text, so memory stays bounded
however large the file is.

What cannot be read (a CSV row with the wrong number of fields, bytes that are not
UTF-8) is reported with its row and column, like any other bad value, and the rest
of the file is still read, so one pass finds every problem.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from makegood.core.errors import InvalidInputError
from makegood.customers.rules import COLUMNS, OPTIONAL

BATCH_ROWS = 50_000
HEADER_BYTES = 1 << 20  # a header line longer than this is not a customers file
# Arrow's words for a row of the wrong number of fields; its rows count the header.
_UNEVEN = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+)")
# (row, column, message); the column is "" when the whole row is at fault.
Problem = tuple[int, str, str]


@dataclass
class TextBatch:
    """Rows as text by column, each row's 1-based number in the file (the header not
    counted), and what could not be read in the rows up to the batch's last."""

    rows: list[int]
    columns: dict[str, list[str]]
    problems: list[Problem] = field(default_factory=list)


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


def text_batches(path: Path) -> Iterator[TextBatch]:
    """Yield the file's rows in batches; absent optional columns are empty text."""
    try:
        if file_format(path) == "parquet":
            yield from _parquet_batches(path)
        else:
            yield from _csv_batches(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc})") from None


def line_numbers(path: Path, rows: Iterable[int]) -> dict[int, int]:
    """The line each of these CSV rows starts on: a quoted value may span lines, and
    blank lines are skipped, so a row's line is not always its number plus one."""
    wanted, found = set(rows), dict[int, int]()
    if not wanted:
        return found
    _no_field_limit()
    with (
        pa.input_stream(str(path), compression="detect") as raw,
        io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as text,
    ):
        reader = csv.reader(text)
        row, ended = -1, 0  # the header is row 0; ended: the last line read so far
        for record in reader:
            if record:  # like the CSV reader, blank lines are no rows
                row += 1
                if row in wanted:
                    found[row] = ended + 1
                    if len(found) == len(wanted):
                        break
            ended = reader.line_num
    return found


def _no_field_limit() -> None:
    """Let the csv module read a field as long as the CSV reader did (a whole file)."""
    try:
        csv.field_size_limit(sys.maxsize)
    except OverflowError:  # a C long of 32 bits
        csv.field_size_limit(2**31 - 1)


def _parquet_batches(path: Path) -> Iterator[TextBatch]:
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    _check_columns(schema.names, path)
    _check_types(schema, path)
    wanted = [c for c in COLUMNS if c in schema.names]
    first = 1
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        rows = list(range(first, first + batch.num_rows))
        first += batch.num_rows
        yield _as_text(batch, rows)


def _csv_batches(path: Path) -> Iterator[TextBatch]:
    header, alone = _csv_header(path)
    _check_columns(header, path)
    if alone:  # the CSV reader cannot read a header without a line end: no rows either way
        return
    wanted = [c for c in COLUMNS if c in header]
    unread: list[Problem] = []

    def uneven(row: pacsv.InvalidRow) -> str:
        # The parser counts the header as row 1; a row it cannot split is skipped,
        # reported, and the reading goes on.
        number = (row.number or 1) - 1
        unread.append(
            (number, "", f"has {row.actual_columns} fields; the header has {row.expected_columns}")
        )
        return "skip"

    def reader() -> pacsv.CSVStreamingReader:
        return pacsv.open_csv(
            path,
            # One thread: the parser then knows each bad row's number.
            read_options=pacsv.ReadOptions(block_size=1 << 23, use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=uneven),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                # Bytes, not text: a value that is not UTF-8 is then one row's problem.
                column_types={name: pa.binary() for name in wanted},
                strings_can_be_null=False,
            ),
        )

    number, skipped = 0, 0
    for batch in _read(reader, unread):
        rows = []
        for _ in range(batch.num_rows):
            number += 1
            while skipped < len(unread) and unread[skipped][0] <= number:
                number += unread[skipped][0] == number
                skipped += 1
            rows.append(number)
        found = _as_text(batch, rows)
        found.problems[:0] = unread[:skipped]  # the rows skipped up to this batch's last
        del unread[:skipped]
        skipped = 0
        yield found
    if unread:
        yield TextBatch([], {name: [] for name in COLUMNS}, list(unread))


def _read(
    reader: Callable[[], pacsv.CSVStreamingReader], unread: list[Problem]
) -> Iterator[pa.RecordBatch]:
    """The CSV reader's batches. A row of the wrong number of fields whose text is not
    UTF-8 cannot be handed to ``uneven``: Arrow tells it on stderr as an ignored error
    and stops. The row is reported like the others; the rest of the file goes unread."""
    try:
        with _quiet():
            batches = reader()
        while True:
            with _quiet():
                batch = next(batches, None)
            if batch is None:
                return
            yield batch
    except pa.ArrowInvalid as exc:
        found = _UNEVEN.search(str(exc))
        if found is None:
            raise
        row, expected, actual = map(int, found.groups())
        unread.append(
            (row - 1, "", f"has {actual} fields; the header has {expected} (not read further)")
        )


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep Arrow's ignored errors from the row handler off stderr: never a traceback."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, UnicodeDecodeError):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def _csv_header(path: Path) -> tuple[list[str], bool]:
    """The CSV's column names, read the way the CSV reader will (compressed or not), and
    whether the header is all the file holds."""
    with pa.input_stream(str(path), compression="detect") as raw:
        head = raw.read(HEADER_BYTES)
    # Lines end in \n, \r\n or a bare \r, as the CSV reader has them.
    end = re.search(b"\r\n?|\n", head)
    line, rest = (head[: end.start()], head[end.end() :]) if end else (head, b"")
    alone = not rest.strip(b"\r\n") and len(head) < HEADER_BYTES
    line = line.removeprefix(b"\xef\xbb\xbf")
    if not line.strip():
        raise InvalidInputError(f"{path}, line 1: the header is empty")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{path}, line 1: the header is not UTF-8 text (byte {exc.start + 1})"
        ) from None
    return next(csv.reader([text])), alone


def _check_columns(names: list[str], path: Path) -> None:
    missing = [c for c in COLUMNS if c not in names and c not in OPTIONAL]
    if missing:
        raise InvalidInputError(
            f"{path}: missing {'column' if len(missing) == 1 else 'columns'} {', '.join(missing)}; "
            f"a customers file has the columns {','.join(COLUMNS)}"
        )


def _check_types(schema: pa.Schema, path: Path) -> None:
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
        if not _readable(kind):
            raise InvalidInputError(f"{path}: column {name} is stored as {kind}; store it as text")


def _readable(kind: pa.DataType) -> bool:
    """A type whose values have a text of their own: not lists, structs, maps, times."""
    if pa.types.is_dictionary(kind):
        return _readable(kind.value_type)
    return any(
        test(kind)
        for test in (
            pa.types.is_string,
            pa.types.is_large_string,
            pa.types.is_binary,
            pa.types.is_large_binary,
            pa.types.is_integer,
            pa.types.is_decimal,
            pa.types.is_date,
            pa.types.is_boolean,
            pa.types.is_null,
        )
    )


def _as_text(batch: pa.RecordBatch, rows: list[int]) -> TextBatch:
    found = TextBatch(rows, {})
    for name in COLUMNS:
        if name not in batch.schema.names:
            found.columns[name] = [""] * batch.num_rows
        else:
            found.columns[name] = _texts(batch.column(name), name, rows, found.problems)
    return found


def _texts(array: pa.Array, name: str, rows: list[int], problems: list[Problem]) -> list[str]:
    """The column as text; a value that is not UTF-8 becomes a problem at its row."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()  # its values, each read like any other
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        array = array.cast(pa.binary())  # Parquet does not promise valid UTF-8 either
    elif not (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        array = array.cast(pa.string())  # decimals, dates, integers: their text
    try:
        values = array.cast(pa.string()).to_pylist()
    except pa.ArrowInvalid:
        values = [
            _decoded(v, name, row, problems) for v, row in zip(array.to_pylist(), rows, strict=True)
        ]
    return ["" if v is None else v for v in values]


def _decoded(value: bytes | None, name: str, row: int, problems: list[Problem]) -> str:
    if value is None:
        return ""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append((row, name, f"is not UTF-8 text (byte {exc.start + 1} of the value)"))
        return ""
