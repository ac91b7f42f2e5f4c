"""What billing needs from outside: sinks that take ledger entries to the company's
billing system and answer for each entry.

A ``BillingSink`` is handed ``BillingItem``s (one per ledger entry, in ledger order) and
a destination (a file path for the file sinks; an API sink may ignore it), and answers
one ``Receipt`` per item: ``delivered`` (with the billing system's reference, if it
gives one), ``retry`` (not taken this time) or ``failed`` (never, with the reason).
``finish`` is called once the caller's transaction has committed: a file sink gives its
file the final name then, so no file names a batch that was rolled back.

Sinks are chosen by name among the ``makegood.billing_sinks`` entry points: ``csv`` and
``jsonl`` write files (``billing export --format``); ``stripe`` and ``webhook`` take
entries one at a time (``billing push --sink``), and must tell a permanent refusal
(``failed``) from a passing one (``retry``). A push sink must also be safe to hand the
same entry twice: a push that died between the sink's answer and makegood's commit
hands it again, and the sink finds what it already made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol, runtime_checkable

from makegood.core.money import Money
from makegood.kits.ports import Port

# The billing export's columns, in order (a file contract: see DESIGN).
COLUMNS = (
    "credit_id",
    "customer_id",
    "amount",
    "currency",
    "statement_date",
    "incident_id",
    "description",
)


@dataclass(frozen=True)
class BillingItem:
    credit_id: int
    customer_id: str
    amount: Money  # negative for a reversal
    statement_date: date
    incident_id: int
    description: str
    # The customer's id in the billing system, for sinks that push to one (Stripe).
    billing_id: str | None = None
    # For a reversal: what the sink made for the credit it reverses, if it was pushed.
    reverses: str | None = None

    def row(self) -> dict[str, str]:
        """The export row: the contract's columns, all text, the amount in major units."""
        return {
            "credit_id": str(self.credit_id),
            "customer_id": self.customer_id,
            "amount": self.amount.major_text,
            "currency": self.amount.currency,
            "statement_date": self.statement_date.isoformat(),
            "incident_id": str(self.incident_id),
            "description": self.description,
        }


# A reversal's receipt may name as its reference TAKEN_BACK + the reversed credit's: the
# sink took that credit's item back (Stripe deletes a pending item) instead of adding one.
TAKEN_BACK = "deleted:"


@dataclass(frozen=True)
class Receipt:
    credit_id: int
    status: Literal["delivered", "retry", "failed"]
    reference: str | None = None
    detail: str = ""
    # What the billing system took, in the ledger's minor units, when its rules made
    # it differ from the entry (Stripe's steps of 10 fils for BHD); 0 otherwise.
    rounding_minor: int = 0


@runtime_checkable
class BillingSink(Protocol):
    name: str

    def deliver(self, items: Sequence[BillingItem], destination: str) -> Sequence[Receipt]: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class Held:
    """One item a billing system holds that carries a makegood credit_id."""

    credit_id: str
    reference: str
    amount: Money  # in the ledger's sign: a credit is positive
    billing_id: str


@runtime_checkable
class Reconcilable(Protocol):
    """A sink that can list what it holds (``billing reconcile``)."""

    name: str

    def holdings(self) -> Iterable[Held]: ...


class BillingSinks(Protocol):
    def names(self) -> list[str]: ...

    def sink(self, name: str, setting: str = "--format") -> BillingSink: ...


BILLING_SINKS: Port[BillingSinks] = Port("billing sinks")
