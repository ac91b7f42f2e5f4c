"""Use cases for support agents: look a customer up, see everything makegood did for
them, send a claim email again with a fresh link, and give a claim more time.

Voiding a credit is ``credits.service.void``; a later deadline is
``credits.offers.extend_deadline``. Each change here writes its audit entry in the
caller's transaction; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.core.errors import ConflictError, NotFoundError
from makegood.core.tokens import Sealer, hash_token, new_token
from makegood.credits import offers
from makegood.credits.models import LedgerEntry, Offer
from makegood.credits.service import balance
from makegood.customers.models import Customer
from makegood.impact.models import Impact
from makegood.incidents.models import Incident
from makegood.messaging import queue
from makegood.messaging.models import DeliveryAttempt, Message

SEARCH_LIMIT = 50


@dataclass(frozen=True)
class Resent:
    """A claim email queued again: the new message and what it replaced."""

    offer_id: int
    message_id: int
    sequence: int
    links_replaced: int
    messages_replaced: list[int]


def resend_claim(
    session: Session, offer_id: int, now: datetime, actor: str, secret_key: str
) -> Resent:
    """Queue the claim email again with a new link; the old link stops working.

    Two resends at once both aim at the next sequence; the outbox's unique key lets
    one win, and the other gets a ConflictError (its transaction must be rolled back).
    Messaging writes the letter, credits the new link, audit the entry.
    """
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise NotFoundError(f"offer {offer_id} does not exist")
    _resendable(offer_id, offer.status, offer.expires_at, now)
    last = queue.last_letter(session, offer.campaign_id, offer.customer_id)
    token = new_token()
    payload: dict[str, Any] = dict(last.payload) if last else {"kind": "claim_offer"}
    payload["sealed_token"] = Sealer(secret_key).seal(token)  # fails before any write
    about = (offer.id, offer.campaign_id, offer.customer_id)
    message = queue.queue_again(session, last, about, payload, now)
    # Re-read under a lock: a claim or a void may have landed since the first read.
    status, expires_at = session.execute(
        select(Offer.status, Offer.expires_at).where(Offer.id == offer_id).with_for_update()
    ).one()
    _resendable(offer_id, status, expires_at, now)
    replaced = offers.reissue_claim_token(session, offer_id, hash_token(token))
    superseded = queue.supersede(session, offer.campaign_id, offer.customer_id, message.id)
    record(
        session,
        at=now,
        actor=actor,
        action="offer.claim_resent",
        object_type="offer",
        object_id=offer_id,
        before={"message_id": last.id if last else None, "sequence": last.sequence if last else 0},
        after={
            "message_id": message.id,
            "sequence": message.sequence,
            "links_replaced": replaced,
            "messages_replaced": superseded,
        },
    )
    session.flush()
    return Resent(offer_id, message.id, message.sequence, replaced, superseded)


def _resendable(offer_id: int, status: str, expires_at: datetime | None, now: datetime) -> None:
    if status != "offered":
        raise ConflictError(
            f"offer {offer_id} is {status}; a claim email goes again only while the offer "
            "waits to be claimed"
        )
    if expires_at is None or expires_at <= now:
        raise ConflictError(
            f"offer {offer_id} expired at {_iso(expires_at)}; extend its deadline first"
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# --- Looking a customer up ----------------------------------------------------------


def find_customers(session: Session, query: str) -> list[Customer]:
    """Customers whose id is exactly ``query`` or whose email is, ignoring case."""
    text = query.strip()
    if not text:
        return []
    return list(
        session.scalars(
            select(Customer)
            .where(or_(Customer.customer_id == text, func.lower(Customer.email) == text.lower()))
            .order_by(Customer.customer_id)
            .limit(SEARCH_LIMIT)
        )
    )


@dataclass(frozen=True)
class Touch:
    """One incident that touched the customer: its impact, if one was found."""

    incident: Incident
    impact: Impact | None


@dataclass(frozen=True)
class Sent:
    message: Message
    attempts: list[DeliveryAttempt]


@dataclass
class CustomerRecord:
    """Everything makegood knows and did for one customer."""

    customer: Customer
    incidents: list[Touch] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    messages: list[Sent] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    balance: dict[str, int] = field(default_factory=dict)


def customer_record(session: Session, customer_id: str) -> CustomerRecord:
    """The customer with every incident, offer, message (with its delivery attempts)
    and ledger entry that concerns them, each read through an index."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError(f"customer {customer_id!r} does not exist")
    incidents = {i.id: i for i in session.scalars(select(Incident))}
    # Impacts and offers are keyed (incident, customer): naming the incidents lets
    # the database use that key instead of scanning for the customer.
    impacts = {
        i.incident_id: i
        for i in session.scalars(
            select(Impact).where(
                Impact.incident_id.in_(list(incidents)), Impact.customer_id == customer_id
            )
        )
    }
    offers = list(
        session.scalars(
            select(Offer)
            .where(Offer.incident_id.in_(list(incidents)), Offer.customer_id == customer_id)
            .order_by(Offer.id.desc())
        )
    )
    touched = set(impacts) | {o.incident_id for o in offers}
    return CustomerRecord(
        customer=customer,
        incidents=[
            Touch(incidents[i], impacts.get(i))
            for i in sorted(touched, key=lambda i: incidents[i].start_at, reverse=True)
        ],
        offers=offers,
        messages=_messages(session, customer_id, {o.campaign_id for o in offers}),
        ledger=list(
            session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.customer_id == customer_id)
                .order_by(LedgerEntry.id.desc())
            )
        ),
        balance=balance(session, customer_id),
    )


def _messages(session: Session, customer_id: str, campaigns: set[int]) -> list[Sent]:
    if not campaigns:
        return []
    messages = list(
        session.scalars(
            select(Message)
            .where(Message.campaign_id.in_(campaigns), Message.customer_id == customer_id)
            .order_by(Message.id.desc())
        )
    )
    attempts: dict[int, list[DeliveryAttempt]] = {m.id: [] for m in messages}
    if messages:
        for attempt in session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id.in_(list(attempts)))
            .order_by(DeliveryAttempt.message_id, DeliveryAttempt.attempt, DeliveryAttempt.id)
        ):
            attempts[attempt.message_id].append(attempt)
    return [Sent(m, attempts[m.id]) for m in messages]
