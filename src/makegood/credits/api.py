"""Claiming without the link, for the company's own signed-in site (a key of the
``claims`` role): a customer's open offers, and a claim by offer id with the same
single conditional update and deadline as the claim page."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Body as InBody
from pydantic import Field
from sqlalchemy import select

from makegood.core.errors import ConflictError, NotFoundError
from makegood.core.money import format_major
from makegood.credits.models import Offer
from makegood.credits.service import claim_offer
from makegood.kits.http.deps import Claims, Svc, Uow, actor
from makegood.kits.http.errors import COMMON, CONFLICT, NOT_FOUND
from makegood.kits.http.fields import (
    MALFORMED,
    Amount,
    Body,
    Currency,
    CustomerId,
    Instant,
    OfferId,
    Out,
)

router = APIRouter(prefix="/api", tags=["claims"], responses=COMMON)


class OpenOffer(Out):
    id: int
    incident_id: int
    status: str = Field(description="offered (open), claimed, expired or voided")
    amount: Amount
    currency: Currency
    expires_at: Instant | None
    claimed_at: Instant | None
    statement_date: date | None


class ClaimIn(Body):
    """Optional: the signed-in customer, so an offer of anyone else is not found."""

    customer_id: str | None = Field(default=None, min_length=1, max_length=200)


class Claimed(Out):
    offer_id: int
    status: str = Field(description="claimed")
    amount: Amount
    currency: Currency
    claimed_at: Instant


@router.get("/customers/{customer_id}/offers", response_model=list[OpenOffer])
def customer_offers(
    customer_id: CustomerId,
    uow: Uow,
    svc: Svc,
    _: Claims,
    open_: Annotated[bool, Query(alias="open", description="Only offers still claimable.")] = False,
) -> list[OpenOffer]:
    """A customer's claim offers, oldest first; with open=true only those that can be
    claimed now."""
    query = select(Offer).where(Offer.customer_id == customer_id, Offer.mode == "claim")
    if open_:
        query = query.where(Offer.status == "offered", Offer.expires_at > svc.now())
    return [_open(o) for o in uow.session.scalars(query.order_by(Offer.id))]


@router.post(
    "/offers/{offer_id}/claim",
    response_model=Claimed,
    responses={**NOT_FOUND, **CONFLICT, **MALFORMED},
)
def claim(
    offer_id: OfferId,
    uow: Uow,
    svc: Svc,
    caller: Claims,
    body: Annotated[ClaimIn | None, InBody()] = None,
) -> Claimed:
    """Claim one offer for the signed-in customer: once, before its deadline. A second
    claim, or one after the deadline or a void, is refused with 409 and says which."""
    now = svc.now()
    outcome = claim_offer(
        uow.session, offer_id, now, f"site:{actor(caller)}", body.customer_id if body else None
    )
    if outcome.status == "unknown":
        raise NotFoundError(f"offer {offer_id} does not exist or is not a claim offer")
    if outcome.status != "claimed":
        raise ConflictError(f"offer {offer_id} cannot be claimed: {outcome.status}")
    uow.commit()
    assert outcome.amount_minor is not None
    assert outcome.currency is not None
    claimed_at: datetime = outcome.claimed_at or now
    return Claimed(
        offer_id=offer_id,
        status="claimed",
        amount=format_major(outcome.amount_minor, outcome.currency),
        currency=outcome.currency,
        claimed_at=claimed_at,
    )


def _open(offer: Offer) -> OpenOffer:
    return OpenOffer(
        id=offer.id,
        incident_id=offer.incident_id,
        status=offer.status,
        amount=format_major(offer.amount_minor, offer.currency),
        currency=offer.currency,
        expires_at=offer.expires_at,
        claimed_at=offer.claimed_at,
        statement_date=offer.statement_date,
    )
