"""Use case: push every ledger entry into a billing system that takes them one by one
(Stripe, a webhook), each exactly once per sink.

Each entry gets a delivery row per sink. A push first gives every entry without one a
``pending`` row, then takes the due pending rows one at a time, each in its own
transaction that locks the row while the sink is asked (so two pushes never hand the
same entry at once) and records the answer: ``delivered`` with the billing system's
id; ``failed`` with the reason, for good; or, for a passing refusal, still pending,
tried again after a backoff, failed once ``max_attempts`` is spent. A push killed
while asking leaves the row pending; the next push asks again, and the sink finds
what it already made instead of making it twice.

An entry already written to a billing export file is pushed like any other (each
entry once per sink), but counted, so that the command can warn: if that file was
loaded into this billing system, the push credits the customer twice. With
``skip_exported`` such entries are left out. A failed entry stays failed until
``retry_failed`` gives it back to the queue, once its cause is fixed; a credit voided
meanwhile stays failed (never to reach the bill).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.billing.models import BillingDelivery, ExportItem
from makegood.billing.ports import BillingItem, BillingSink, Receipt
from makegood.config import BillingSettings
from makegood.core.money import Money
from makegood.credits.models import LedgerEntry
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork


@dataclass
class PushReport:
    pushed: int = 0
    failed: int = 0
    pending: int = 0
    retried: int = 0
    # Entries a billing export file holds: left out with skip_exported, else queued for
    # this sink all the same (see the module's docstring).
    exported: int = 0
    # Failed entries given back to the queue by ``retry_failed``.
    requeued: int = 0


def push(
    engine: Engine,
    sink: BillingSink,
    now: Callable[[], datetime],
    actor: str,
    settings: BillingSettings,
    limit: int | None = None,
    *,
    retry_failed: bool = False,
    skip_exported: bool = False,
) -> PushReport:
    """Hand every due entry to ``sink`` (at most ``limit``); answers what happened."""
    report, last = PushReport(), 0
    # A patient sink's passing refusals are tried until they pass, whatever the count.
    patient = bool(getattr(sink, "patient", False))
    with UnitOfWork(engine) as uow:
        if retry_failed:
            report.requeued = requeue_failed(uow.session, sink.name, now(), skip_exported)
        enqueue(uow.session, sink.name, now(), skip_exported)
        report.exported = _exported(uow.session, sink.name, skip_exported)
        uow.commit()
    while limit is None or report.pushed + report.failed + report.retried < limit:
        with UnitOfWork(engine) as uow:
            row = _next_due(uow.session, sink.name, now(), after=last)
            if row is None:
                break
            last = row.entry_id
            item, reversed_state = _item(uow.session, row.entry_id, sink.name)
            receipt = _unreached(item, reversed_state) or sink.deliver([item], "")[0]
            _record(row, receipt, item.amount.minor, now(), settings, patient)
            uow.commit()
        if row.state == "delivered":
            report.pushed += 1
        elif row.state == "failed":
            report.failed += 1
        else:
            report.retried += 1
    with UnitOfWork(engine) as uow:
        report.pending = _count(uow.session, sink.name, "pending")
        record(
            uow.session,
            at=now(),
            actor=actor,
            action="billing.pushed",
            object_type="billing_sink",
            object_id=sink.name,
            after={
                "sink": sink.name,
                "pushed": report.pushed,
                "failed": report.failed,
                "pending": report.pending,
                "requeued": report.requeued,
            },
        )
        uow.commit()
    return report


def enqueue(session: Session, sink: str, now: datetime, skip_exported: bool = False) -> int:
    """A pending delivery row for every entry the sink has none for (with
    ``skip_exported``, only those no billing export file holds); answers how many are
    pending now."""
    fresh = select(
        LedgerEntry.id,
        literal(sink),
        literal("pending"),
        literal(""),
        literal(0),
        literal(0),
        literal(now, BillingDelivery.updated_at.type),
    ).where(
        ~select(BillingDelivery.entry_id)
        .where(BillingDelivery.entry_id == LedgerEntry.id, BillingDelivery.sink == sink)
        .exists()
    )
    if skip_exported:
        fresh = fresh.where(~LedgerEntry.id.in_(select(ExportItem.entry_id)))
    columns = ["entry_id", "sink", "state", "reason", "attempts", "rounding_minor", "updated_at"]
    session.execute(insert(BillingDelivery).from_select(columns, fresh.order_by(LedgerEntry.id)))
    return _count(session, sink, "pending")


def requeue_failed(session: Session, sink: str, now: datetime, skip_exported: bool) -> int:
    """Give this sink's failed entries back to the queue, once their cause is fixed (a
    billing_id imported): but never a credit voided meanwhile, nor (with
    ``skip_exported``) an entry written to a billing export file since."""
    voided = select(LedgerEntry.offer_id).where(LedgerEntry.kind == "reversal")
    credits = select(LedgerEntry.id).where(
        or_(LedgerEntry.kind == "reversal", ~LedgerEntry.offer_id.in_(voided))
    )
    if skip_exported:
        credits = credits.where(~LedgerEntry.id.in_(select(ExportItem.entry_id)))
    rows = session.scalars(
        select(BillingDelivery).where(
            BillingDelivery.sink == sink,
            BillingDelivery.state == "failed",
            BillingDelivery.entry_id.in_(credits),
        )
    ).all()
    for row in rows:
        row.state, row.attempts, row.next_attempt_at = "pending", 0, None
        row.reason, row.updated_at = f"tried again after: {row.reason}"[:2000], now
    return len(rows)


def _exported(session: Session, sink: str, skipped: bool) -> int:
    """Entries a billing export file holds that this sink has no row for (left out),
    or, when not skipped, that wait for their first try with it (about to be pushed
    all the same; counted once, not again on each retry)."""
    held = select(BillingDelivery.entry_id).where(
        BillingDelivery.entry_id == ExportItem.entry_id, BillingDelivery.sink == sink
    )
    if not skipped:
        held = held.where(BillingDelivery.state == "pending", BillingDelivery.attempts == 0)
    found = held.exists() if not skipped else ~held.exists()
    return int(session.scalar(select(func.count()).select_from(ExportItem).where(found)) or 0)


def _next_due(session: Session, sink: str, now: datetime, after: int) -> BillingDelivery | None:
    query = (
        select(BillingDelivery)
        .where(
            BillingDelivery.sink == sink,
            BillingDelivery.state == "pending",
            BillingDelivery.entry_id > after,
            or_(BillingDelivery.next_attempt_at.is_(None), BillingDelivery.next_attempt_at <= now),
        )
        .order_by(BillingDelivery.entry_id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()


def _item(session: Session, entry_id: int, sink: str) -> tuple[BillingItem, str | None]:
    """The entry as the sink takes it; for a reversal, also where the credit it
    reverses stands with this sink (None: never handed to it)."""
    entry, billing_id = session.execute(
        select(LedgerEntry, Customer.billing_id)
        .outerjoin(Customer, Customer.customer_id == LedgerEntry.customer_id)
        .where(LedgerEntry.id == entry_id)
    ).one()
    state, reference = (
        _counterpart(session, entry, sink, reversal=False)
        if entry.kind == "reversal"
        else (_reversed_first(session, entry, sink), None)
    )
    item = BillingItem(
        credit_id=entry.id,
        customer_id=entry.customer_id,
        amount=Money(entry.amount_minor, entry.currency),
        statement_date=entry.statement_date,
        incident_id=entry.incident_id,
        description=entry.description,
        billing_id=billing_id,
        reverses=reference if state == "delivered" else None,
    )
    return item, state


def _counterpart(
    session: Session, entry: LedgerEntry, sink: str, reversal: bool
) -> tuple[str | None, str | None]:
    """(state, reference) with ``sink`` of the other entry of the same offer: the
    credit a reversal reverses, or (``reversal``) the reversal of a credit."""
    kind = LedgerEntry.kind == "reversal" if reversal else LedgerEntry.kind != "reversal"
    found = session.execute(
        select(BillingDelivery.state, BillingDelivery.external_id)
        .join(LedgerEntry, LedgerEntry.id == BillingDelivery.entry_id)
        .where(LedgerEntry.offer_id == entry.offer_id, kind, BillingDelivery.sink == sink)
    ).first()
    return (None, None) if found is None else (found.state, found.external_id)


def _reversed_first(session: Session, credit: LedgerEntry, sink: str) -> str:
    """Whether the credit's reversal already went to ``sink`` before it (the credit was
    left out of a push meanwhile, say with skip_exported), as "reversed first", else
    "n/a": a voided credit must not reach the bill after its reversal."""
    state, _ = _counterpart(session, credit, sink, reversal=True)
    return "reversed first" if state == "delivered" else "n/a"


def _unreached(item: BillingItem, reversed_state: str | None) -> Receipt | None:
    """A reversal waits for its credit, and is nothing to push when the credit never
    reached the billing system (no customer must be charged for a credit they never
    got); a credit whose reversal went first is nothing to push either."""
    if reversed_state == "pending":
        return Receipt(item.credit_id, "retry", detail="waits for the credit it reverses")
    if reversed_state == "reversed first":
        return Receipt(
            item.credit_id,
            "delivered",
            detail="voided before it reached this billing system; nothing put on the bill",
        )
    if reversed_state in (None, "failed"):
        return Receipt(
            item.credit_id,
            "delivered",
            detail="the credit it reverses never reached this billing system; nothing to take back",
        )
    return None


def _record(
    row: BillingDelivery,
    receipt: Receipt,
    amount_minor: int,
    now: datetime,
    settings: BillingSettings,
    patient: bool = False,
) -> None:
    row.attempts += 1
    row.updated_at = now
    row.reason = receipt.detail
    if receipt.status == "delivered":
        row.state, row.external_id = "delivered", receipt.reference
        row.rounding_minor = receipt.rounding_minor
        row.pushed_amount_minor = amount_minor + receipt.rounding_minor
        row.next_attempt_at = None
    elif receipt.status == "failed" or (row.attempts >= settings.max_attempts and not patient):
        row.state = "failed"
        row.next_attempt_at = None
    else:
        doubled = settings.backoff_seconds * 2 ** min(row.attempts - 1, 32)
        wait = min(doubled, settings.backoff_max_seconds)
        row.next_attempt_at = now + timedelta(seconds=wait)


def _count(session: Session, sink: str, state: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(BillingDelivery)
            .where(and_(BillingDelivery.sink == sink, BillingDelivery.state == state))
        )
        or 0
    )
