"""Use case: import customers from CSV or Parquet, all or nothing, upsert by id.

The file is read in batches. Valid rows go to a temporary staging table as they
are checked (a bad row goes there by its id alone, so an id given twice is found
whatever else is wrong), every problem is collected, and only a file without
problems reaches ``customers``, in one statement. All of it happens in the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import column, func, literal, select, table, text, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.core.errors import InvalidInputError
from makegood.core.words import counted
from makegood.customers.models import Customer
from makegood.customers.reader import Problem, file_format, line_numbers, text_batches
from makegood.customers.rules import COLUMNS, CustomerRow, RowProblems, usable_id, validate_row
from makegood.customers.snapshot import bump
from makegood.db.base import UTCDateTime
from makegood.db.bulk import dialect, insert_rows

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
    "billing_id",
    "phone",
    "channel",
)
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportResult:
    imported: int
    updated: int


@dataclass
class _Findings:
    """Every problem counted; the first MAX_LISTED by row kept to be shown."""

    path: Path
    first: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, problems: Iterable[Problem], total: int | None = None) -> None:
        found = list(problems)
        self.total += len(found) if total is None else total
        # A stable sort by row alone keeps each row's problems in column order.
        self.first = sorted([*self.first, *found], key=lambda p: p[0])[:MAX_LISTED]

    def raise_if_any(self) -> None:
        if not self.total:
            return
        csv = file_format(self.path) == "csv"
        lines = line_numbers(self.path, {row for row, _, _ in self.first}) if csv else {}
        listed = []
        for row, name, message in self.first:
            line = f" (line {lines.get(row, row + 1)})" if csv else ""
            place = f", column {name}" if name else ""
            listed.append(f"{self.path.name}, row {row}{line}{place}: {message}")
        if self.total > len(listed):
            listed.append(f"... and {counted(self.total - len(listed), 'more problem')}")
        raise InvalidInputError(
            f"{self.path}: {counted(self.total, 'problem')} found; nothing was imported", listed
        )


def import_customers(
    session: Session,
    path: Path,
    now: datetime,
    progress: Progress | None = None,
    *,
    actor: str = "system",
    source: str | None = None,
) -> ImportResult:
    """Validate the whole file, then upsert every row in the caller's transaction.

    ``source`` names the file in the audit log when ``path`` is a temporary copy.
    """
    _create_stage(session)
    findings = _Findings(path)
    staged = 0
    for rows in _staged(path, findings, progress):
        insert_rows(session, STAGE, ("row_number", *STORED), rows)
        staged += len(rows)
    _find_duplicates(session, findings)
    findings.raise_if_any()
    if not staged:
        session.execute(text(f"DROP TABLE {STAGE}"))
        return ImportResult(0, 0)
    updated = (
        session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.customer_id.in_(text(f"SELECT customer_id FROM {STAGE}")))
        )
        or 0
    )
    _upsert(session, now)
    bump(session)
    session.execute(text(f"DROP TABLE {STAGE}"))
    result = ImportResult(imported=staged - updated, updated=updated)
    record(
        session,
        at=now,
        actor=actor,
        action="customers.imported",
        object_type="customer_import",
        object_id=source or path.name,
        after={"rows": staged, "imported": result.imported, "updated": result.updated},
    )
    return result


def _staged(
    path: Path, findings: _Findings, progress: Progress | None
) -> Iterator[list[tuple[object, ...]]]:
    """Per batch, the rows to stage: a valid row whole, a bad one by its id alone."""
    for batch in text_batches(path):
        problems = list(batch.problems)
        # A value that could not be read is reported once, not again as empty.
        unread = {(row, column) for row, column, _ in problems}
        staged: list[tuple[object, ...]] = []
        for index, number in enumerate(batch.rows):
            raw = {c: batch.columns[c][index] for c in COLUMNS}
            try:
                row: CustomerRow | None = validate_row(raw)
            except RowProblems as bad:
                row = None
                problems += [(number, c, m) for c, m in bad.problems if (number, c) not in unread]
            if row is not None and not any((number, c) in unread for c in COLUMNS):
                staged.append(_stored(number, row))
            elif (customer_id := usable_id(raw["customer_id"])) is not None:
                staged.append((number, customer_id, *[None] * (len(STORED) - 1)))
        findings.add(problems)
        if progress is not None:
            progress(len(batch.rows))
        yield staged


def _create_stage(session: Session) -> None:
    """The staging table, its columns typed as the customers table's own."""
    dialect_ = session.get_bind().dialect
    columns = ", ".join(
        f"{name} {Customer.__table__.c[name].type.compile(dialect=dialect_)}" for name in STORED
    )
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    session.execute(text(f"CREATE TEMPORARY TABLE {STAGE} (row_number BIGINT, {columns})"))


def _find_duplicates(session: Session, findings: _Findings) -> None:
    """An id on two rows of one file is an error at every later row."""
    later = (
        f"FROM {STAGE} s JOIN (SELECT customer_id, min(row_number) AS first_row FROM {STAGE} "
        "GROUP BY customer_id HAVING count(*) > 1) f ON f.customer_id = s.customer_id "
        "WHERE s.row_number > f.first_row"
    )
    total = session.scalar(text(f"SELECT count(*) {later}")) or 0
    rows = session.execute(
        text(
            f"SELECT s.row_number, s.customer_id, f.first_row {later} "
            f"ORDER BY s.row_number LIMIT {MAX_LISTED}"
        )
    ).all()
    findings.add(
        [
            (row_number, "customer_id", f"{customer_id!r} already appears in row {first_row}")
            for row_number, customer_id, first_row in rows
        ],
        total,
    )


def _upsert(session: Session, now: datetime) -> None:
    stage = table(STAGE, *(column(name) for name in STORED))
    stamp = literal(now, UTCDateTime())
    insert = pg_insert if dialect(session) == "postgresql" else sqlite_insert
    statement = insert(Customer).from_select(
        [*STORED, "created_at", "updated_at"],
        # WHERE true keeps SQLite from reading ON CONFLICT as part of the SELECT.
        select(*stage.c, stamp, stamp).where(true()),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["customer_id"],
        set_={
            **{name: statement.excluded[name] for name in (*STORED[1:], "updated_at")},
            # A file without billing ids, phones or channels keeps what an earlier
            # file gave.
            **{
                name: func.coalesce(statement.excluded[name], getattr(Customer, name))
                for name in ("billing_id", "phone", "channel")
            },
        },
    )
    session.execute(statement)


def _stored(number: int, r: CustomerRow) -> tuple[object, ...]:
    return (
        number,
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
        r.billing_id,
        r.phone,
        r.channel,
    )
