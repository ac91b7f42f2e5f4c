"""Bulk writes inside the caller's transaction: COPY on PostgreSQL, executemany on
SQLite. Both go through the Session's own connection, so a rollback undoes them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Text, any_, bindparam, cast
from sqlalchemy.orm import Session


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def one_of(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (values)``. On PostgreSQL the values go as one array parameter
    (``= ANY(...)``), so the statement's text is the same for every batch: the driver
    parses and prepares it once, where an IN list of 500 items was a new statement,
    parsed again, every time."""
    values = list(values)
    condition: ColumnElement[bool]
    if dialect(session) != "postgresql":
        condition = column.in_(values)
    elif all(type(v) is int for v in values):
        # Whole numbers as an array literal: the driver adapts one text faster than a list.
        literal = "{" + ",".join([str(v) for v in values]) + "}"
        condition = column == any_(cast(bindparam(None, literal, type_=Text), ARRAY(column.type)))
    else:
        condition = column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return condition


def driver_connection(session: Session) -> Any:
    return session.connection().connection.driver_connection


def insert_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Write Python rows into ``table`` as fast as the database allows."""
    cols = ", ".join(columns)
    raw = driver_connection(session)
    if dialect(session) == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    raw.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", _sqlite_rows(rows))


def db_instant(session: Session, moment: datetime) -> datetime:
    """An instant as a text-SQL parameter: SQLite columns hold naive UTC."""
    if dialect(session) == "sqlite":
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _sqlite_value(value: Any) -> Any:
    # Store instants and dates as SQLAlchemy's SQLite types do, without relying on
    # the sqlite3 module's default adapters (deprecated since Python 3.12).
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _sqlite_rows(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        yield tuple(_sqlite_value(v) for v in row)


def copy_text(
    session: Session, table: str, columns: Sequence[str], chunks: Iterable[bytes | memoryview]
) -> None:
    """Stream rows in COPY's text format (``db.arrow.arrow_text``) into ``table``."""
    cols = ", ".join(columns)
    raw = driver_connection(session)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
        for chunk in chunks:
            copy.write(chunk)
