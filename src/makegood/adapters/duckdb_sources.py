"""Usage data on DuckDB: schema checks when a source is added, and the normalised
views (``usage_events``, ``shipments``) that impact rules query."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import duckdb

from makegood.core.errors import InvalidInputError
from makegood.core.words import counted
from makegood.customers.models import Customer
from makegood.db.lengths import max_length

TEXT = ("VARCHAR",)
INTEGER = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "HUGEINT",
)
INSTANT = ("TIMESTAMP WITH TIME ZONE",)


@dataclass(frozen=True)
class Column:
    name: str
    accepts: tuple[str, ...]
    cast: str  # the DuckDB type the view exposes
    required_value: bool  # empty values are an error
    instant: bool = False


SCHEMAS: dict[str, tuple[Column, ...]] = {
    "usage_events": (
        Column("customer_id", TEXT + INTEGER, "VARCHAR", True),
        Column("occurred_at", TEXT + INSTANT, "TIMESTAMPTZ", True, instant=True),
        Column("service", TEXT, "VARCHAR", True),
        Column("outcome", TEXT, "VARCHAR", True),
        Column("device", TEXT, "VARCHAR", False),
        Column("region", TEXT, "VARCHAR", False),
    ),
    "shipments": (
        Column("customer_id", TEXT + INTEGER, "VARCHAR", True),
        Column("order_id", TEXT + INTEGER, "VARCHAR", True),
        Column("due_at", TEXT + INSTANT, "TIMESTAMPTZ", True, instant=True),
        Column("shipped_at", TEXT + INSTANT, "TIMESTAMPTZ", False, instant=True),
    ),
}
# ISO-8601 with an explicit offset or Z at the end; a naive time is not an instant.
OFFSET_PATTERN = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
# Impacts, offers and the ledger keep a customer id in a column as long as the customers
# table's own: a longer id in usage data could never be stored.
ID_LENGTH = max_length(Customer.customer_id) or 200
MAX_LISTED = 50
SHOWN = 40  # characters of a bad value repeated in a message


def detect_format(path: str) -> str:
    lowered = path.lower()
    if lowered.endswith((".parquet", ".pq")):
        return "parquet"
    if lowered.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    raise InvalidInputError(f"{path}: unknown format; use .csv, .csv.gz or .parquet files")


def matching_files(path: str) -> list[str]:
    files = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
    files = [f for f in files if Path(f).is_file()]
    if not files:
        raise InvalidInputError(f"{path}: no file matches")
    return files


def reader_sql(path: str, fmt: str, with_filename: bool = False, keep_rejects: bool = False) -> str:
    """The DuckDB table function reading a source. ``keep_rejects`` (CSV): rows that
    cannot be read are set aside in DuckDB's reject tables instead of ending the scan,
    so every one of them can be named; the dialect is then the contract's, not guessed."""
    quoted = "'" + path.replace("'", "''") + "'"
    extra = ", filename=true" if with_filename else ""
    if fmt == "parquet":
        return f"read_parquet({quoted}{extra})"
    if keep_rejects:
        extra += ", delim=',', quote='\"', escape='\"', store_rejects=true"
    return f"read_csv({quoted}, header=true, all_varchar=true{extra})"


def view_sql(table: str, path: str, fmt: str, types: dict[str, str] | None = None) -> str:
    """The SELECT that exposes one source under its contract column names and types.

    With the source's column ``types`` (from DESCRIBE), columns already of the right
    type pass through untouched; only text is cleaned (empty means NULL) and cast.
    """
    parts = []
    for col in SCHEMAS[table]:
        found = (types or {}).get(col.name, "VARCHAR")
        if found == "VARCHAR" and not col.required_value:
            expr = f"NULLIF({col.name}, '')"
            expr = expr if col.cast == "VARCHAR" else f"CAST({expr} AS {col.cast})"
        elif found == _duck(col.cast):
            expr = col.name
        else:
            expr = f"CAST({col.name} AS {col.cast})"
        parts.append(f"{expr} AS {col.name}")
    return f"SELECT {', '.join(parts)} FROM {reader_sql(path, fmt)}"


def source_types(
    con: duckdb.DuckDBPyConnection, path: str, fmt: str, keep_rejects: bool = False
) -> dict[str, str]:
    """Column name -> DuckDB type, from the files' metadata (no scan)."""
    reader = reader_sql(path, fmt, keep_rejects=keep_rejects)
    rows = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    return {str(row[0]): str(row[1]) for row in rows}


def _duck(cast: str) -> str:
    return "TIMESTAMP WITH TIME ZONE" if cast == "TIMESTAMPTZ" else cast


def check_source(table: str, path: str) -> tuple[str, int]:
    """Check columns, types and every value; returns (format, row count)."""
    if table not in SCHEMAS:
        raise InvalidInputError(f"{table!r} is not a source table; use one of {', '.join(SCHEMAS)}")
    fmt = detect_format(path)
    matching_files(path)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    try:
        types = source_types(con, path, fmt, keep_rejects=True)
    except duckdb.Error as exc:
        raise InvalidInputError(f"{path}: cannot be read as {fmt} ({_first_line(exc)})") from None
    _check_columns(table, path, types)
    return fmt, _check_values(con, table, path, fmt, types)


def _rejected(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The CSV rows the last checking scan could not read (wrong number of fields,
    bytes that are not UTF-8), each named by file, line and column."""
    # A row short of fields has one reject per missing column: one problem says it all.
    rejected = con.execute(
        "SELECT count(*) OVER (), s.file_path, e.line, "
        "string_agg(e.column_name, ', ' ORDER BY e.column_idx), e.error_type "
        "FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id) "
        "GROUP BY s.file_path, e.line, e.error_type "
        f"ORDER BY s.file_path, e.line LIMIT {MAX_LISTED}"
    ).fetchall()
    problems = [_reject(*row[1:]) for row in rejected]
    count = int(rejected[0][0]) if rejected else 0
    if count > len(problems):
        problems.append(f"... and {counted(count - len(problems), 'more unreadable row')}")
    return problems


def _reject(file: str, line: int, columns: str | None, kind: str) -> str:
    if kind == "MISSING COLUMNS":
        return f"{file}, line {line}: has too few fields; no value for {columns}"
    if kind == "TOO MANY COLUMNS":
        return f"{file}, line {line}: has more fields than the header"
    what = {
        "INVALID ENCODING": "is not UTF-8 text",
        "UNQUOTED VALUE": "has a quote inside an unquoted value",
        "LINE SIZE OVER MAXIMUM": "is longer than a line may be",
    }.get(kind, kind.lower())
    place = f", column {columns}" if columns else ""
    return f"{file}, line {line}{place}: {what}"


def _first_line(exc: Exception) -> str:
    """DuckDB's first line, what failed and where: the next ones repeat the file's
    text and list suggestions."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0].removeprefix("Invalid Input Error: ")


def _check_columns(table: str, path: str, types: dict[str, str]) -> None:
    problems = []
    for col in SCHEMAS[table]:
        found = types.get(col.name)
        if found is None:
            problems.append(f"column {col.name} is missing")
        elif found not in col.accepts:
            wanted = " or ".join(sorted({_describe(t) for t in col.accepts}))
            problems.append(f"column {col.name} is {found}; it must be {wanted}")
    if problems:
        expected = ",".join(c.name for c in SCHEMAS[table])
        raise InvalidInputError(
            f"{path}: does not match the {table} contract ({expected})", problems
        )


def _describe(duck_type: str) -> str:
    if duck_type in INTEGER:
        return "an integer"
    if duck_type in INSTANT:
        return "a timestamp with time zone"
    return "text"


def _value_checks(table: str, types: dict[str, str]) -> list[tuple[str, str, str]]:
    """(column, SQL condition that marks a bad value, what is wrong) per check."""
    checks = []
    for col in SCHEMAS[table]:
        raw = f"CAST({col.name} AS VARCHAR)"
        if col.required_value:
            checks.append((col.name, f"coalesce({raw}, '') = ''", "is empty"))
        if col.instant and types[col.name] == "VARCHAR":
            present = f"coalesce({raw}, '') <> ''"
            checks.append(
                (
                    col.name,
                    f"{present} AND (NOT regexp_matches({raw}, '{OFFSET_PATTERN}') "
                    f"OR TRY_CAST({raw} AS TIMESTAMPTZ) IS NULL)",
                    "is not an ISO-8601 instant with an offset (e.g. 2026-03-02T18:00:00Z)",
                )
            )
    checks.append(
        (
            "customer_id",
            f"length(CAST(customer_id AS VARCHAR)) > {ID_LENGTH}",
            f"is longer than {ID_LENGTH} characters, the most a customer id holds",
        )
    )
    if table == "usage_events":
        checks.append(("outcome", "outcome NOT IN ('ok', 'error')", "must be ok or error"))
        checks.append(("service", "service <> lower(service)", "must be a lowercase service name"))
    return checks


def _check_values(
    con: duckdb.DuckDBPyConnection, table: str, path: str, fmt: str, types: dict[str, str]
) -> int:
    """Count bad values per check in one streaming pass (little memory however large
    the files); only when something is wrong, a second pass finds the first place."""
    checks = _value_checks(table, types)
    counts = ", ".join(f"count(*) FILTER (WHERE {cond})" for _, cond, _ in checks)
    if fmt == "csv":
        counts += ", count(COLUMNS(*))"  # reads every column, so each is decoded once
    reader = reader_sql(path, fmt, keep_rejects=True)
    try:
        found = con.execute(f"SELECT count(*), {counts} FROM {reader}").fetchall()[0]
    except duckdb.Error as exc:
        raise InvalidInputError(f"{path}: cannot be read as {fmt} ({_first_line(exc)})") from None
    problems = _rejected(con) if fmt == "csv" else []
    for i, (col, cond, message) in enumerate(checks):
        bad = int(found[1 + i])
        if bad:
            example = _first_place(con, path, fmt, col, cond)
            problems.append(f"column {col} {message}: {counted(bad, 'row')}, first at {example}")
    if problems:
        raise InvalidInputError(f"{path}: {table} has bad values; nothing was added", problems)
    return int(found[0])


def _first_place(con: duckdb.DuckDBPyConnection, path: str, fmt: str, col: str, cond: str) -> str:
    numbered = (
        f"SELECT *, row_number() OVER (PARTITION BY filename) AS row_number "
        f"FROM {reader_sql(path, fmt, with_filename=True, keep_rejects=True)}"
    )
    row = con.execute(
        f"SELECT filename || ', row ' || row_number || ': ' || "
        f"coalesce(left(CAST({col} AS VARCHAR), {SHOWN}), '(empty)') FROM ({numbered}) "
        f"WHERE {cond} ORDER BY filename, row_number LIMIT 1"
    ).fetchall()
    return str(row[0][0]) if row else "(unknown)"
