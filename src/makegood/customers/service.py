"""Use case: import customers from CSV or Parquet, all or nothing, upsert by id."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import column, func, literal, select, table, text, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from makegood.core.errors import InvalidInputError
from makegood.customers.models import Customer
from makegood.customers.rules import COLUMNS, OPTIONAL, CustomerRow, RowProblems, validate_row
from makegood.db.base import UTCDateTime
from makegood.db.bulk import insert_rows

MAX_LISTED = 50
STAGE = "customer_import"
STORED = (
    "customer_id",
    "email",
    "first_name",
    "locale",
    "timezone",
    "country",
    "status",
    "plan",
    "monthly_price_minor",
    "currency",
    "next_bill_date",
)
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportResult:
    imported: int
    updated: int


def read_table(path: Path) -> pa.Table:
    """Read a customers file with every column as text (CSV) or as stored (Parquet)."""
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith((".parquet", ".pq")):
            return pq.read_table(path)
        if ".csv" in suffixes:
            options = pacsv.ConvertOptions(
                column_types={name: pa.string() for name in COLUMNS},
                strings_can_be_null=False,
            )
            return pacsv.read_csv(path, convert_options=options)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc})") from None
    raise InvalidInputError(f"{path}: unknown format; use a .csv or .parquet file")


def _text_columns(table: pa.Table, path: Path) -> dict[str, list[str]]:
    missing = [name for name in COLUMNS if name not in table.column_names and name not in OPTIONAL]
    if missing:
        raise InvalidInputError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"a customers file has the columns {','.join(COLUMNS)}"
        )
    columns: dict[str, list[str]] = {}
    for name in COLUMNS:
        if name not in table.column_names:
            columns[name] = [""] * table.num_rows
            continue
        column = table.column(name)
        if pa.types.is_floating(column.type):
            raise InvalidInputError(
                f"{path}: column {name} is stored as a floating-point number; "
                "store prices as decimal or text so no cent is lost"
            )
        if pa.types.is_timestamp(column.type):
            raise InvalidInputError(
                f"{path}: column {name} must be a date or text, not a timestamp"
            )
        values = column.cast(pa.string()).to_pylist()
        columns[name] = ["" if v is None else v for v in values]
    return columns


def validate_file(path: Path, progress: Progress | None = None) -> list[CustomerRow]:
    """Every row checked; raises one InvalidInputError naming every bad place."""
    table = read_table(path)
    columns = _text_columns(table, path)
    problems: list[str] = []
    rows: list[CustomerRow] = []
    first_seen: dict[str, int] = {}
    total_bad = 0
    for index in range(table.num_rows):
        number = index + 1
        raw = {name: columns[name][index] for name in COLUMNS}
        try:
            row = validate_row(raw)
        except RowProblems as bad:
            total_bad += len(bad.problems)
            problems.extend(_place(path, number, col, msg) for col, msg in bad.problems)
        else:
            earlier = first_seen.setdefault(row.customer_id, number)
            if earlier != number:
                total_bad += 1
                problems.append(
                    _place(
                        path,
                        number,
                        "customer_id",
                        f"{row.customer_id!r} already appears in row {earlier}",
                    )
                )
            rows.append(row)
        if progress is not None and number % 1000 == 0:
            progress(1000)
    if progress is not None:
        progress(table.num_rows % 1000)
    if problems:
        listed = problems[:MAX_LISTED]
        if total_bad > MAX_LISTED:
            listed.append(f"... and {total_bad - MAX_LISTED} more problem(s)")
        raise InvalidInputError(
            f"{path}: {total_bad} problem(s) found; nothing was imported", listed
        )
    return rows


def _place(path: Path, row: int, column: str, message: str) -> str:
    line = f" (line {row + 1})" if ".csv" in path.name.lower() else ""
    return f"{path.name}, row {row}{line}, column {column}: {message}"


def import_customers(
    session: Session, path: Path, now: datetime, progress: Progress | None = None
) -> ImportResult:
    """Validate the whole file, then upsert every row in the caller's transaction."""
    rows = validate_file(path, progress)
    if not rows:
        return ImportResult(0, 0)
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE {STAGE} (customer_id VARCHAR(200) PRIMARY KEY, "
            "email VARCHAR(320), first_name VARCHAR(200), locale VARCHAR(35), "
            "timezone VARCHAR(64), country VARCHAR(2), status VARCHAR(16), plan VARCHAR(100), "
            "monthly_price_minor BIGINT, currency VARCHAR(3), next_bill_date DATE)"
        )
    )
    insert_rows(session, STAGE, STORED, _tuples(rows))
    updated = (
        session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.customer_id.in_(text(f"SELECT customer_id FROM {STAGE}")))
        )
        or 0
    )
    stage = table(STAGE, *(column(name) for name in STORED))
    stamp = literal(now, UTCDateTime())
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Customer).from_select(
        [*STORED, "created_at", "updated_at"],
        # WHERE true keeps SQLite from reading ON CONFLICT as part of the SELECT.
        select(*stage.c, stamp, stamp).where(true()),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["customer_id"],
        set_={name: statement.excluded[name] for name in (*STORED[1:], "updated_at")},
    )
    session.execute(statement)
    session.execute(text(f"DROP TABLE {STAGE}"))
    return ImportResult(imported=len(rows) - updated, updated=updated)


def _tuples(rows: list[CustomerRow]) -> Iterator[tuple[object, ...]]:
    for r in rows:
        yield (
            r.customer_id,
            r.email,
            r.first_name,
            r.locale,
            r.timezone,
            r.country,
            r.status,
            r.plan,
            r.monthly_price_minor,
            r.currency,
            r.next_bill_date,
        )
