"""Billing exports as the API shows them: the rows are the export contract's."""

from __future__ import annotations

from pydantic import Field

from makegood.kits.http.fields import Amount, Currency, Instant, Out


class BillingRow(Out):
    """One ledger entry for the billing system, every value as text (as in the files)."""

    credit_id: str
    customer_id: str
    amount: Amount = Field(description="Major units; reversals are negative.")
    currency: Currency
    statement_date: str = Field(description="ISO date of the statement it applies to.")
    incident_id: str
    description: str


class ExportOut(Out):
    batch_id: int | None = Field(description="The new batch; null when nothing was left.")
    exported: int
    rows: list[BillingRow]


class BatchOut(Out):
    id: int
    created_at: Instant
    actor: str
    format: str = Field(description="How the batch first left: csv, jsonl (files) or json (API).")
    entries: int


class BatchDetail(BatchOut):
    rows: list[BillingRow]
