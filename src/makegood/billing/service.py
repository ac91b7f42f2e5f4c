"""Use case: export ledger entries to the billing system, each exactly once.

The batch and its items are recorded in the caller's transaction and the entries
handed to a billing sink; a file sink writes to a temporary name, which becomes the
final one only once the caller has committed (``finish``). A crash before the commit
leaves no batch; a crash after it leaves a batch that ``--batch ID`` writes again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.billing.models import ExportBatch, ExportItem
from makegood.billing.ports import BillingItem, BillingSink
from makegood.core.errors import InvalidInputError, NotFoundError
from makegood.core.money import Money
from makegood.credits.models import LedgerEntry


@dataclass
class Export:
    batch_id: int | None
    exported: int
    path: Path
    sink: BillingSink

    def finish(self) -> None:
        """Let the sink complete its delivery (a file takes its final name); call after
        the transaction committed."""
        self.sink.finish()


def export(
    session: Session,
    out: Path,
    sink: BillingSink,
    now: datetime,
    actor: str,
    batch_id: int | None = None,
    skip_pushed: bool = False,
) -> Export:
    """Hand every entry not exported yet (or one batch again) to ``sink``; each entry is
    exported once: a sink that does not take every entry leaves no batch behind."""
    if batch_id is not None:
        return _deliver(sink, out, batch_entries(session, batch_id), batch_id)
    batch, entries = export_pending(session, now, actor, sink.name, str(out), skip_pushed)
    return _deliver(sink, out, entries, None if batch is None else batch.id)


# A ledger entry a billing sink has delivered or still means to (not a failed one).
PUSHED = (
    "NOT EXISTS (SELECT 1 FROM billing_deliveries d "
    "WHERE d.entry_id = ledger_entries.id AND d.state <> 'failed')"
)


def export_pending(
    session: Session,
    now: datetime,
    actor: str,
    fmt: str,
    destination: str,
    skip_pushed: bool = False,
) -> tuple[ExportBatch | None, Sequence[LedgerEntry]]:
    """Put every entry not exported yet into a new batch; (None, []) when none is left.
    With ``skip_pushed``, an entry pushed (or being pushed) to a billing sink is left
    out: it is on its way to the bill already."""
    pushed = PUSHED if skip_pushed else ""
    query = select(LedgerEntry.id).where(~LedgerEntry.id.in_(select(ExportItem.entry_id)))
    if pushed:
        query = query.where(text(pushed))
    pending = session.scalars(query.order_by(LedgerEntry.id).with_for_update()).all()
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
            + (f" AND {pushed}" if pushed else "")
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


def items(entries: Sequence[LedgerEntry]) -> list[BillingItem]:
    return [
        BillingItem(
            credit_id=e.id,
            customer_id=e.customer_id,
            amount=Money(e.amount_minor, e.currency),
            statement_date=e.statement_date,
            incident_id=e.incident_id,
            description=e.description,
        )
        for e in entries
    ]


def rows(entries: Sequence[LedgerEntry]) -> list[dict[str, str]]:
    """Entries as billing export rows (the contract's columns, all text)."""
    return [item.row() for item in items(entries)]


def _totals(entries: Sequence[LedgerEntry]) -> dict[str, str]:
    sums: dict[str, int] = {}
    for e in entries:
        sums[e.currency] = sums.get(e.currency, 0) + e.amount_minor
    return {c: Money(m, c).major_text for c, m in sorted(sums.items())}


def _entries(session: Session, ids: Any) -> Sequence[LedgerEntry]:
    return session.scalars(
        select(LedgerEntry).where(LedgerEntry.id.in_(ids)).order_by(LedgerEntry.id)
    ).all()


def _deliver(
    sink: BillingSink, out: Path, entries: Sequence[LedgerEntry], batch_id: int | None
) -> Export:
    receipts = sink.deliver(items(entries), str(out))
    refused = [r for r in receipts if r.status != "delivered"]
    if refused or len(receipts) != len(entries):
        first = refused[0] if refused else None
        why = f"{first.status}: {first.detail}" if first else "it answered for fewer entries"
        raise InvalidInputError(
            f"--format: the {sink.name} billing sink did not take every entry "
            f"({len(refused) or len(entries) - len(receipts)} not taken; first {why}); "
            "nothing was exported"
        )
    return Export(batch_id, len(entries), out, sink)
