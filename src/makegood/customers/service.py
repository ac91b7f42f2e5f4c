"""Use case: import customers from CSV or Parquet, all or nothing, upsert by id.

The file is read in batches. Valid rows go to a temporary staging table as they
are checked, every problem is collected, and only a file without problems reaches
``customers``, in one statement. All of it happens in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import column, func, literal, select, table, text, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.core.errors import InvalidInputError
from makegood.customers.models import Customer
from makegood.customers.reader import text_batches
from makegood.customers.rules import COLUMNS, CustomerRow, RowProblems, validate_row
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
)
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportResult:
    imported: int
    updated: int


@dataclass
class _Findings:
    path: Path
    listed: list[str] = field(default_factory=list)
    total: int = 0

    def add(self, row: int, column: str, message: str) -> None:
        self.total += 1
        if len(self.listed) < MAX_LISTED:
            line = f" (line {row + 1})" if ".csv" in self.path.name.lower() else ""
            self.listed.append(f"{self.path.name}, row {row}{line}, column {column}: {message}")

    def raise_if_any(self) -> None:
        if not self.total:
            return
        listed = list(self.listed)
        if self.total > len(listed):
            listed.append(f"... and {self.total - len(listed)} more problem(s)")
        raise InvalidInputError(
            f"{self.path}: {self.total} problem(s) found; nothing was imported", listed
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
    for rows in _validated(path, findings, progress):
        insert_rows(session, STAGE, ("row_number", *STORED), _tuples(rows))
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


def _validated(
    path: Path, findings: _Findings, progress: Progress | None
) -> Iterator[list[tuple[int, CustomerRow]]]:
    """Per batch: its valid rows with their 1-based row numbers."""
    number = 0
    for batch in text_batches(path):
        size = len(batch[COLUMNS[0]])
        valid: list[tuple[int, CustomerRow]] = []
        for index in range(size):
            number += 1
            try:
                valid.append((number, validate_row({c: batch[c][index] for c in COLUMNS})))
            except RowProblems as bad:
                for col, message in bad.problems:
                    findings.add(number, col, message)
        if progress is not None:
            progress(size)
        yield valid


def _create_stage(session: Session) -> None:
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE {STAGE} (row_number BIGINT, customer_id VARCHAR(200), "
            "email VARCHAR(320), first_name VARCHAR(200), locale VARCHAR(35), "
            "timezone VARCHAR(64), country VARCHAR(2), status VARCHAR(16), plan VARCHAR(100), "
            "monthly_price_minor BIGINT, currency VARCHAR(3), next_bill_date DATE)"
        )
    )


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
    for row_number, customer_id, first_row in rows:
        findings.add(
            row_number, "customer_id", f"{customer_id!r} already appears in row {first_row}"
        )
    findings.total += total - len(rows)


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
        set_={name: statement.excluded[name] for name in (*STORED[1:], "updated_at")},
    )
    session.execute(statement)


def _tuples(rows: list[tuple[int, CustomerRow]]) -> Iterator[tuple[object, ...]]:
    for number, r in rows:
        yield (
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
        )
