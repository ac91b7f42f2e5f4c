"""``GET /api/customers/{id}``: one customer's whole record across the domains (impacts,
offers, messages and their attempts, ledger, balance), read where every domain is below."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.billing.models import ExportItem
from makegood.campaigns.schemas import OfferOut
from makegood.core.errors import NotFoundError
from makegood.credits.models import LedgerEntry, Offer
from makegood.credits.schemas import LedgerEntryOut
from makegood.credits.service import balance
from makegood.customers.models import Customer
from makegood.customers.schemas import CustomerOut
from makegood.impact.models import Impact
from makegood.impact.schemas import ImpactOut
from makegood.kits.http.deps import Uow, Viewer
from makegood.kits.http.errors import COMMON, NOT_FOUND
from makegood.kits.http.fields import CustomerId, Totals, totals
from makegood.messaging.models import DeliveryAttempt, Message
from makegood.messaging.schemas import MessageDetail

router = APIRouter(prefix="/api/customers", tags=["customers"], responses=COMMON)


class CustomerDetail(CustomerOut):
    """Everything makegood knows about one customer, for support."""

    impacts: list[ImpactOut] = Field(description="Every incident that hurt them.")
    offers: list[OfferOut]
    messages: list[MessageDetail] = Field(description="Every message, with delivery attempts.")
    ledger: list[LedgerEntryOut] = Field(description="Every credit and reversal, oldest first.")
    balance: Totals = Field(description="The sum of the ledger, per currency.")


@router.get("/{customer_id}", response_model=CustomerDetail, responses=NOT_FOUND)
def show_customer(customer_id: CustomerId, uow: Uow, _: Viewer) -> CustomerDetail:
    """One customer with every impact, offer, message (and its delivery attempts),
    ledger entry, and their balance per currency."""
    session = uow.session
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError(f"customer {customer_id!r} does not exist")
    impacts = session.scalars(
        select(Impact).where(Impact.customer_id == customer_id).order_by(Impact.incident_id)
    )
    offers = session.scalars(
        select(Offer).where(Offer.customer_id == customer_id).order_by(Offer.id)
    )
    return CustomerDetail.of(
        customer,
        impacts=[ImpactOut.model_validate(i) for i in impacts],
        offers=[OfferOut.of(o) for o in offers],
        messages=_messages(session, customer_id),
        ledger=_ledger(session, customer_id),
        balance=totals(balance(session, customer_id)),
    )


def _messages(session: Session, customer_id: str) -> list[MessageDetail]:
    messages = session.scalars(
        select(Message).where(Message.customer_id == customer_id).order_by(Message.id)
    ).all()
    attempts: dict[int, list[DeliveryAttempt]] = {m.id: [] for m in messages}
    if messages:
        for attempt in session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id.in_(attempts))
            .order_by(DeliveryAttempt.id)
        ):
            attempts[attempt.message_id].append(attempt)
    return [MessageDetail.of(m, attempts[m.id]) for m in messages]


def _ledger(session: Session, customer_id: str) -> list[LedgerEntryOut]:
    rows = session.execute(
        select(LedgerEntry, ExportItem.batch_id)
        .outerjoin(ExportItem, ExportItem.entry_id == LedgerEntry.id)
        .where(LedgerEntry.customer_id == customer_id)
        .order_by(LedgerEntry.id)
    )
    return [LedgerEntryOut.of(entry, batch) for entry, batch in rows]
