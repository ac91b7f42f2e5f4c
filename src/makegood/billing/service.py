"""Use case: export ledger entries to the billing system, each exactly once.

The file is written to a temporary name, the batch and its items are recorded in
the caller's transaction, and the file takes its final name only once the caller
has committed (``finish``). A crash before the commit leaves no batch; a crash
after it leaves a batch that ``--batch ID`` writes again.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.billing.models import ExportBatch, ExportItem
from makegood.core.errors import InvalidInputError, NotFoundError
from makegood.core.money import format_major
from makegood.credits.models import LedgerEntry

COLUMNS = (
    "credit_id",
    "customer_id",
    "amount",
    "currency",
    "statement_date",
    "incident_id",
    "description",
)
FORMATS = ("csv", "jsonl")


@dataclass
class Export:
    batch_id: int | None
    exported: int
    path: Path
    temporary: Path

    def finish(self) -> None:
        """Give the file its final name; call after the transaction committed."""
        os.replace(self.temporary, self.path)


def export(
    session: Session, out: Path, fmt: str, now: datetime, actor: str, batch_id: int | None = None
) -> Export:
    if fmt not in FORMATS:
        raise InvalidInputError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if batch_id is not None:
        return _write(out, fmt, batch_entries(session, batch_id), batch_id)
    batch, entries = export_pending(session, now, actor, fmt, str(out))
    return _write(out, fmt, entries, None if batch is None else batch.id)


def export_pending(
    session: Session, now: datetime, actor: str, fmt: str, destination: str
) -> tuple[ExportBatch | None, Sequence[LedgerEntry]]:
    """Put every entry not exported yet into a new batch; (None, []) when none is left."""
    pending = session.scalars(
        select(LedgerEntry.id)
        .where(~LedgerEntry.id.in_(select(ExportItem.entry_id)))
        .order_by(LedgerEntry.id)
        .with_for_update()
    ).all()
    if not pending:
        return None, []
    batch = ExportBatch(
        created_at=now, actor=actor, format=fmt, path=destination, entries=len(pending)
    )
    session.add(batch)
    session.flush()
    session.execute(
        text(
            "INSERT INTO export_items (entry_id, batch_id) SELECT id, :batch FROM ledger_entries "
            "WHERE id NOT IN (SELECT entry_id FROM export_items) AND id <= :last"
        ),
        {"batch": batch.id, "last": pending[-1]},
    )
    entries = _entries(session, select(ExportItem.entry_id).where(ExportItem.batch_id == batch.id))
    batch.entries = len(entries)
    record(
        session,
        at=now,
        actor=actor,
        action="billing.exported",
        object_type="export_batch",
        object_id=batch.id,
        after={
            "entries": len(entries),
            "format": fmt,
            "destination": destination,
            "first_entry": entries[0].id if entries else None,
            "last_entry": entries[-1].id if entries else None,
            "totals": _totals(entries),
        },
    )
    return batch, entries


def get_batch(session: Session, batch_id: int) -> ExportBatch:
    batch = session.get(ExportBatch, batch_id)
    if batch is None:
        raise NotFoundError(f"export batch {batch_id} does not exist")
    return batch


def batch_entries(session: Session, batch_id: int) -> Sequence[LedgerEntry]:
    """The ledger entries one batch carried, in ledger order."""
    get_batch(session, batch_id)
    return _entries(session, select(ExportItem.entry_id).where(ExportItem.batch_id == batch_id))


def rows(entries: Sequence[LedgerEntry]) -> list[dict[str, str]]:
    """Entries as billing export rows (the contract's columns, all text)."""
    return list(_rows(entries))


def _totals(entries: Sequence[LedgerEntry]) -> dict[str, str]:
    sums: dict[str, int] = {}
    for e in entries:
        sums[e.currency] = sums.get(e.currency, 0) + e.amount_minor
    return {c: format_major(m, c) for c, m in sorted(sums.items())}


def _entries(session: Session, ids: Any) -> Sequence[LedgerEntry]:
    return session.scalars(
        select(LedgerEntry).where(LedgerEntry.id.in_(ids)).order_by(LedgerEntry.id)
    ).all()


def _rows(entries: Sequence[LedgerEntry]) -> Iterator[dict[str, str]]:
    for e in entries:
        yield {
            "credit_id": str(e.id),
            "customer_id": e.customer_id,
            "amount": format_major(e.amount_minor, e.currency),
            "currency": e.currency,
            "statement_date": e.statement_date.isoformat(),
            "incident_id": str(e.incident_id),
            "description": e.description,
        }


def _write(out: Path, fmt: str, entries: Sequence[LedgerEntry], batch_id: int | None) -> Export:
    temporary = out.with_name(f".{out.name}.partial")
    try:
        with temporary.open("w", newline="", encoding="utf-8") as fh:
            if fmt == "csv":
                writer = csv.DictWriter(fh, COLUMNS)
                writer.writeheader()
                writer.writerows(_rows(entries))
            else:
                for row in _rows(entries):
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise InvalidInputError(f"--out: cannot write {out} ({exc.strerror})") from None
    return Export(batch_id, len(entries), out, temporary)
