"""Ledger entries as the API shows them."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from makegood.core.money import format_major
from makegood.credits.models import LedgerEntry
from makegood.kits.http.fields import Amount, Currency, Instant, Out


class LedgerEntryOut(Out):
    id: int
    offer_id: int
    incident_id: int
    kind: str = Field(description="grant, claim or reversal (negative)")
    amount: Amount
    currency: Currency
    statement_date: date
    created_at: Instant
    description: str
    export_batch: int | None = Field(description="The billing export that carried it, if any.")

    @classmethod
    def of(cls, entry: LedgerEntry, export_batch: int | None) -> LedgerEntryOut:
        return cls(
            id=entry.id,
            offer_id=entry.offer_id,
            incident_id=entry.incident_id,
            kind=entry.kind,
            amount=format_major(entry.amount_minor, entry.currency),
            currency=entry.currency,
            statement_date=entry.statement_date,
            created_at=entry.created_at,
            description=entry.description,
            export_batch=export_batch,
        )
