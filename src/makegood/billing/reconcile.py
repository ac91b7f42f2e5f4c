"""Use case: does the billing system hold what the ledger says it was given?

Three kinds of difference, each listed: an entry makegood delivered that the billing
system no longer holds (deleted behind makegood's back); an item carrying a makegood
credit_id that no delivered entry accounts for (made by hand, or by another
database); and an entry whose amount or currency there is not what was pushed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.billing.models import BillingDelivery
from makegood.billing.ports import TAKEN_BACK, Held, Reconcilable
from makegood.core.money import Money
from makegood.credits.models import LedgerEntry


@dataclass
class Reconciliation:
    matched: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)
    different: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "missing": self.missing,
            "unknown": self.unknown,
            "different": self.different,
        }


def reconcile(session: Session, sink: Reconcilable) -> Reconciliation:
    """Compare the entries delivered to ``sink`` with what it holds now."""
    delivered = {
        str(row.entry_id): (row, entry)
        for row, entry in session.execute(
            select(BillingDelivery, LedgerEntry)
            .join(LedgerEntry, LedgerEntry.id == BillingDelivery.entry_id)
            .where(BillingDelivery.sink == sink.name, BillingDelivery.state == "delivered")
        ).all()
    }
    # A reversal that took its credit's item back: neither is expected there now.
    taken_back = {
        str(row.external_id).removeprefix(TAKEN_BACK)
        for row, _ in delivered.values()
        if str(row.external_id or "").startswith(TAKEN_BACK)
    }
    expected = {
        key: (row, entry)
        for key, (row, entry) in delivered.items()
        # Nothing was made there for an entry delivered without a reference (a
        # reversal of a credit that never reached the billing system, or an amount
        # that is 0 in the billing system's steps).
        if row.external_id is not None
        and not row.external_id.startswith(TAKEN_BACK)
        and row.external_id not in taken_back
    }
    held: dict[str, list[Held]] = {}
    for item in sink.holdings():
        held.setdefault(item.credit_id, []).append(item)
    found = Reconciliation(matched=len(delivered) - len(expected))
    for credit_id, (row, entry) in sorted(expected.items(), key=lambda kv: int(kv[0])):
        there = held.pop(credit_id, [])
        if not there:
            found.missing.append(_entry(entry, row.external_id))
            continue
        pushed = _pushed(row, entry)
        wrong = [h for h in there if h.amount != pushed]
        if wrong or len(there) > 1:
            found.different.append(
                {
                    **_entry(entry, row.external_id),
                    "pushed": pushed.major_text,
                    "held": [f"{h.amount.major_text} {h.amount.currency}" for h in there],
                    "references": [h.reference for h in there],
                }
            )
        else:
            found.matched += 1
    for credit_id, items in sorted(held.items()):
        for item in items:
            found.unknown.append(
                {
                    "credit_id": credit_id,
                    "reference": item.reference,
                    "billing_id": item.billing_id,
                    "amount": item.amount.major_text,
                    "currency": item.amount.currency,
                }
            )
    return found


def _pushed(row: BillingDelivery, entry: LedgerEntry) -> Money:
    """What the billing system was given (0 is an amount: a credit in its steps)."""
    minor = row.pushed_amount_minor
    return Money(entry.amount_minor if minor is None else minor, entry.currency)


def _entry(entry: LedgerEntry, reference: str | None) -> dict[str, Any]:
    return {
        "credit_id": str(entry.id),
        "customer_id": entry.customer_id,
        "amount": Money(entry.amount_minor, entry.currency).major_text,
        "currency": entry.currency,
        "reference": reference,
    }
