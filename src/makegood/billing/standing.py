"""Where ledger entries stand with the billing sinks that take them one by one: counts
by state per sink, the entries that failed for good and why, and the rounding the
billing systems forced — for the whole ledger, one incident, or a list of entries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.orm import Session

from makegood.billing.models import BillingDelivery, ExportBatch, ExportItem
from makegood.core.money import Money
from makegood.credits.models import LedgerEntry

FAILURES_SHOWN = 50


@dataclass(frozen=True)
class Failure:
    entry_id: int
    customer_id: str
    reason: str


@dataclass
class SinkStanding:
    """One sink's entries by state, the first failures, and rounding per currency."""

    pending: int = 0
    delivered: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    rounding: dict[str, str] = field(default_factory=dict)  # currency -> major units

    def as_dict(self) -> dict[str, object]:
        return {
            "pending": self.pending,
            "delivered": self.delivered,
            "failed": self.failed,
            "failures": [
                {"entry_id": f.entry_id, "customer_id": f.customer_id, "reason": f.reason}
                for f in self.failures
            ],
            "rounding": self.rounding,
        }


def standing(
    session: Session, sink: str | None = None, incident_id: int | None = None
) -> dict[str, SinkStanding]:
    """Per sink (all, or the one named), for the whole ledger or one incident's entries."""
    scope: ColumnElement[bool] = true()
    if sink is not None:
        scope = and_(scope, BillingDelivery.sink == sink)
    if incident_id is not None:
        scope = and_(scope, LedgerEntry.incident_id == incident_id)
    joined = select(BillingDelivery.sink).join(
        LedgerEntry, LedgerEntry.id == BillingDelivery.entry_id
    )
    found: dict[str, SinkStanding] = {}
    for name, state, n in session.execute(
        joined.add_columns(BillingDelivery.state, func.count())
        .where(scope)
        .group_by(BillingDelivery.sink, BillingDelivery.state)
    ):
        setattr(found.setdefault(str(name), SinkStanding()), str(state), int(n))
    for name, one in found.items():
        mine = and_(scope, BillingDelivery.sink == name)
        one.failures = [
            Failure(int(e), str(c), str(r))
            for e, c, r in session.execute(
                select(BillingDelivery.entry_id, LedgerEntry.customer_id, BillingDelivery.reason)
                .join(LedgerEntry, LedgerEntry.id == BillingDelivery.entry_id)
                .where(mine, BillingDelivery.state == "failed")
                .order_by(BillingDelivery.entry_id)
                .limit(FAILURES_SHOWN)
            )
        ]
        one.rounding = {
            str(currency): Money(int(total), str(currency)).major_text
            for currency, total in session.execute(
                select(LedgerEntry.currency, func.sum(BillingDelivery.rounding_minor))
                .join(LedgerEntry, LedgerEntry.id == BillingDelivery.entry_id)
                .where(mine, BillingDelivery.rounding_minor != 0)
                .group_by(LedgerEntry.currency)
            )
        }
    return found


def status(session: Session, sink: str | None = None) -> dict[str, dict[str, object]]:
    """``billing status --json``: the whole ledger's standing per sink."""
    return {name: one.as_dict() for name, one in standing(session, sink).items()}


@dataclass(frozen=True)
class Landing:
    """One way an entry went to billing: a push to a sink, or an export file."""

    sink: str
    state: str  # pending, delivered, failed, or exported
    external_id: str | None
    reason: str = ""


def of_entries(session: Session, entry_ids: Iterable[int]) -> dict[int, list[Landing]]:
    """For each entry, every sink it was pushed to and the export batch that carried it."""
    ids = list(entry_ids)
    found: dict[int, list[Landing]] = {i: [] for i in ids}
    if not ids:
        return found
    for row in session.scalars(
        select(BillingDelivery)
        .where(BillingDelivery.entry_id.in_(ids))
        .order_by(BillingDelivery.entry_id, BillingDelivery.sink)
    ):
        found[row.entry_id].append(Landing(row.sink, row.state, row.external_id, row.reason))
    for entry_id, batch_id, fmt in session.execute(
        select(ExportItem.entry_id, ExportBatch.id, ExportBatch.format)
        .join(ExportBatch, ExportBatch.id == ExportItem.batch_id)
        .where(ExportItem.entry_id.in_(ids))
    ):
        found[int(entry_id)].append(Landing(str(fmt), "exported", f"batch {batch_id}"))
    return found
