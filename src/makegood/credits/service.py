"""Use cases on credits: claim an offer by its token, void a credit, read balances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.campaigns.models import ClaimToken, Offer
from makegood.core.errors import ConflictError, InvalidInputError, NotFoundError
from makegood.core.tokens import hash_token
from makegood.credits.models import LedgerEntry
from makegood.credits.rules import statement_date
from makegood.customers.models import Customer
from makegood.incidents.models import Incident


@dataclass(frozen=True)
class ClaimOutcome:
    """claimed | already_claimed | expired | voided | unknown, and when it was claimed."""

    status: str
    offer_id: int | None = None
    claimed_at: datetime | None = None
    expires_at: datetime | None = None
    amount_minor: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class ClaimView:
    """What the claim page shows about an offer; reading it changes nothing."""

    status: str  # offered | claimed | expired | voided
    offer_id: int
    amount_minor: int
    currency: str
    expires_at: datetime | None
    claimed_at: datetime | None
    statement_date: date
    first_name: str
    locale: str
    timezone: str
    country: str
    incident_title: str
    incident_summary: str
    incident_summaries: dict[str, str]


def look(session: Session, token: str, now: datetime) -> ClaimView | None:
    """The offer behind a claim token as of ``now``, or None for a token never issued."""
    found = session.execute(
        select(
            Offer,
            Customer.first_name,
            Customer.locale,
            Customer.timezone,
            Customer.country,
            Customer.next_bill_date,
            Incident.title,
            Incident.summary,
            Incident.summaries,
        )
        .join(ClaimToken, ClaimToken.offer_id == Offer.id)
        .join(Customer, Customer.customer_id == Offer.customer_id)
        .join(Incident, Incident.id == Offer.incident_id)
        .where(ClaimToken.token_hash == hash_token(token))
    ).first()
    if found is None:
        return None
    offer, first, locale, zone, country, bill, title, summary, summaries = found
    status = offer.status
    if status == "offered" and offer.expires_at is not None and offer.expires_at <= now:
        status = "expired"
    if status not in ("offered", "claimed", "expired", "voided"):
        return None
    return ClaimView(
        status=status,
        offer_id=offer.id,
        amount_minor=offer.amount_minor,
        currency=offer.currency,
        expires_at=offer.expires_at,
        claimed_at=offer.claimed_at,
        statement_date=offer.statement_date or statement_date(bill, now, zone),
        first_name=first or "",
        locale=locale,
        timezone=zone,
        country=country,
        incident_title=title,
        incident_summary=summary or "",
        incident_summaries=dict(summaries or {}),
    )


def claim(session: Session, token: str, now: datetime, actor: str = "customer") -> ClaimOutcome:
    """Claim an offer once, before it expires, with one conditional update."""
    token_hash = hash_token(token)
    found = session.execute(
        select(Offer, Customer.next_bill_date, Customer.timezone, Incident.title)
        .join(Customer, Customer.customer_id == Offer.customer_id)
        .join(Incident, Incident.id == Offer.incident_id)
        .join(ClaimToken, ClaimToken.offer_id == Offer.id)
        .where(ClaimToken.token_hash == token_hash)
    ).first()
    if found is None:
        return ClaimOutcome("unknown")
    offer, bill, zone, title = found
    statement = statement_date(bill, now, zone)
    won = session.execute(
        update(Offer)
        .where(Offer.id == offer.id, Offer.status == "offered", Offer.expires_at > now)
        .values(status="claimed", claimed_at=now, statement_date=statement)
        .returning(Offer.id)
        .execution_options(synchronize_session=False)
    ).first()
    if won is None:
        session.refresh(offer)
        return _why_not(offer, now)
    session.add(
        LedgerEntry(
            offer_id=offer.id,
            customer_id=offer.customer_id,
            incident_id=offer.incident_id,
            kind="claim",
            amount_minor=offer.amount_minor,
            currency=offer.currency,
            statement_date=statement,
            created_at=now,
            description=f"Credit: {title}",
        )
    )
    record(
        session,
        at=now,
        actor=actor,
        action="offer.claimed",
        object_type="offer",
        object_id=offer.id,
        before={"status": "offered"},
        after={"status": "claimed", "statement_date": statement.isoformat()},
    )
    session.flush()
    return ClaimOutcome(
        "claimed", offer.id, now, offer.expires_at, offer.amount_minor, offer.currency
    )


def _why_not(offer: Offer, now: datetime) -> ClaimOutcome:
    args = (offer.id, offer.claimed_at, offer.expires_at, offer.amount_minor, offer.currency)
    if offer.status == "claimed":
        return ClaimOutcome("already_claimed", *args)
    if offer.status == "voided":
        return ClaimOutcome("voided", *args)
    if (offer.expires_at is not None and offer.expires_at <= now) or offer.status == "expired":
        return ClaimOutcome("expired", *args)
    return ClaimOutcome("unknown")


def void(session: Session, offer_id: int, reason: str, now: datetime, actor: str) -> Offer:
    """Void an offer; a credit already on the ledger gets a reversal entry."""
    if not reason.strip():
        raise InvalidInputError("--reason: say why the credit is voided")
    offer = session.scalar(select(Offer).where(Offer.id == offer_id).with_for_update())
    if offer is None:
        raise NotFoundError(f"offer {offer_id} does not exist")
    if offer.status not in ("granted", "offered", "claimed"):
        raise ConflictError(
            f"offer {offer_id} is {offer.status}; only granted, offered or "
            "claimed offers can be voided"
        )
    before = offer.status
    credited = int(
        session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
                LedgerEntry.offer_id == offer_id
            )
        )
        or 0
    )
    if credited:
        zone, bill = session.execute(
            select(Customer.timezone, Customer.next_bill_date).where(
                Customer.customer_id == offer.customer_id
            )
        ).one()
        session.add(
            LedgerEntry(
                offer_id=offer.id,
                customer_id=offer.customer_id,
                incident_id=offer.incident_id,
                kind="reversal",
                amount_minor=-credited,
                currency=offer.currency,
                statement_date=statement_date(bill, now, zone),
                created_at=now,
                description=f"Reversal: {reason.strip()}",
            )
        )
    offer.status, offer.voided_at, offer.void_reason = "voided", now, reason.strip()
    record(
        session,
        at=now,
        actor=actor,
        action="offer.voided",
        object_type="offer",
        object_id=offer_id,
        before={"status": before},
        after={"status": "voided", "reason": reason.strip(), "reversed_minor": credited},
    )
    session.flush()
    return offer


def balance(session: Session, customer_id: str) -> dict[str, int]:
    """The customer's credit balance per currency: the sum of the ledger."""
    rows = session.execute(
        select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
        .where(LedgerEntry.customer_id == customer_id)
        .group_by(LedgerEntry.currency)
    ).all()
    return {str(c): int(s) for c, s in rows}
