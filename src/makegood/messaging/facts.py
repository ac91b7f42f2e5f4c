"""Reads what a batch of outbox messages needs to be written: customer, incident,
offer, the shipments behind a late-shipment impact, and the claim link."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol, cast

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from makegood.core.clock import parse_instant
from makegood.core.tokens import Sealer, unsubscribe_token
from makegood.credits.models import Offer
from makegood.credits.rules import statement_date
from makegood.customers.models import Customer
from makegood.db.bulk import one_of
from makegood.impact.models import Impact
from makegood.incidents.models import Incident
from makegood.messaging.letters import LetterFacts, Shipment
from makegood.messaging.models import Message
from makegood.messaging.ports import CampaignTerms


@dataclass(frozen=True)
class Outgoing:
    """One message with its facts, ready to render."""

    message_id: int
    campaign_id: int
    attempts: int
    provider_message_id: str | None
    facts: LetterFacts
    channel: str = "email"


def claim_url(base_url: str, token: str, channel: str = "email") -> str:
    """The claim link; a text message gets the same token behind a shorter path."""
    path = "c" if channel == "sms" else "claim"
    return f"{base_url.rstrip('/')}/{path}/{token}"


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/unsubscribe/{token}"


def load(
    session: Session,
    ids: Sequence[int],
    *,
    sealer: Sealer,
    base_url: str,
    sent_at: datetime,
    terms: CampaignTerms,
) -> list[Outgoing]:
    """The facts for the given messages, in id order."""
    # Plain columns, not ORM objects: a sender reads hundreds of these per batch.
    rows = session.execute(
        select(*LOADED)
        .join(Offer, Offer.id == Message.offer_id)
        .join(Customer, Customer.customer_id == Message.customer_id)
        .where(one_of(session, Message.id, ids))
        .order_by(Message.id)
    ).all()
    incidents = {
        i.id: IncidentFacts(i.title, i.summary, i.summaries, i.services, i.start_at, i.end_at)
        for i in session.scalars(
            select(Incident).where(Incident.id.in_({row.incident_id for row in rows}))
        )
    }
    percents = terms.percents(session, {row.campaign_id for row in rows})
    shipments = _shipments(
        session, [(r.incident_id, r.customer_id) for r in rows if r.kind == "automatic_credit"]
    )
    base = base_url.rstrip("/")
    secret_key = sealer.secret_key
    out = []
    for row in rows:
        url, correction = None, None
        if row.kind == "claim_offer":
            url = claim_url(base, sealer.open(row.payload["sealed_token"]), row.channel)
        elif row.kind == "correction_notice":
            correction = row.payload.get("action")
        token = unsubscribe_token(secret_key, row.customer_id)
        facts = letter_facts(
            row.kind,
            cast(OfferFacts, row),
            cast(CustomerFacts, row),
            incidents[row.incident_id],
            percents.get(row.campaign_id, {}),
            shipments.get((row.incident_id, row.customer_id), ()),
            url,
            sent_at,
            unsubscribe_url(base, token) if token else None,
            correction=correction,
        )
        out.append(
            Outgoing(
                row.id, row.campaign_id, row.attempts, row.provider_message_id, facts, row.channel
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What a letter reads of its incident, taken once per batch from the ORM object."""

    title: str
    summary: str
    summaries: dict[str, str] | None
    services: list[str] | None
    start_at: datetime
    end_at: datetime | None


class OfferFacts(Protocol):
    incident_id: int
    customer_id: str
    rule: str
    capped: bool
    amount_minor: int
    currency: str
    claim_days: int | None
    statement_date: date | None
    expires_at: datetime | None


class CustomerFacts(Protocol):
    first_name: str
    email: str
    locale: str
    timezone: str
    country: str
    next_bill_date: date
    phone: str | None


# Only a claim letter (its sealed token) and a correction notice (its action: close or
# reverse) need their payload: the others' is not read.
WITH_PAYLOAD = ("claim_offer", "correction_notice")
LOADED = (
    Message.id,
    Message.campaign_id,
    Message.attempts,
    Message.provider_message_id,
    Message.channel,
    Message.kind,
    case((Message.kind.in_(WITH_PAYLOAD), Message.payload)).label("payload"),
    Offer.incident_id,
    Offer.customer_id,
    Offer.rule,
    Offer.capped,
    Offer.amount_minor,
    Offer.currency,
    Offer.claim_days,
    Offer.statement_date,
    Offer.expires_at,
    Customer.first_name,
    Customer.email,
    Customer.locale,
    Customer.timezone,
    Customer.country,
    Customer.next_bill_date,
    Customer.phone,
)


def letter_facts(
    kind: str,
    offer: OfferFacts,
    customer: CustomerFacts,
    incident: Incident | IncidentFacts,
    percents: Mapping[str, Decimal | None],
    shipments: tuple[Shipment, ...],
    url: str | None,
    sent_at: datetime,
    unsubscribe: str | None = None,
    *,
    correction: str | None = None,
) -> LetterFacts:
    """One letter's facts. An offer not yet executed (a preview of a draft) gets the
    statement date and the deadline it would get if it were executed at ``sent_at``.
    A correction notice (``correction``: close or reverse) is about an offer already
    closed or reversed: it needs neither, and names no deadline for a closed link."""
    statement, expires = offer.statement_date, offer.expires_at
    if kind == "automatic_credit" and statement is None:
        statement = statement_date(customer.next_bill_date, sent_at, customer.timezone)
    if kind == "claim_offer" and expires is None:
        expires = sent_at + timedelta(days=offer.claim_days or 0)
    if kind == "correction_notice":
        expires = None
    percent = None if offer.capped else percents.get(offer.rule)
    return LetterFacts(
        kind=kind,
        first_name=customer.first_name or "",
        email=customer.email,
        locale=customer.locale,
        timezone=customer.timezone,
        country=customer.country,
        incident_title=incident.title,
        incident_summary=incident.summary,
        incident_summaries=dict(incident.summaries or {}),
        incident_services=tuple(incident.services or ()),
        incident_start=incident.start_at,
        incident_end=incident.end_at,
        amount_minor=offer.amount_minor,
        currency=offer.currency,
        percent=percent,
        statement_date=statement,
        expires_at=expires,
        claim_url=url,
        sent_at=sent_at,
        shipments=shipments,
        phone=customer.phone or "",
        customer_id=offer.customer_id,
        unsubscribe_url=unsubscribe,
        correction=correction,
    )


def shipments_for(session: Session, incident_id: int, customer_id: str) -> tuple[Shipment, ...]:
    return _shipments(session, [(incident_id, customer_id)]).get((incident_id, customer_id), ())


def _shipments(
    session: Session, keys: list[tuple[int, str]]
) -> dict[tuple[int, str], tuple[Shipment, ...]]:
    """Late orders named in late-shipment impacts (the evidence keeps up to five)."""
    if not keys:
        return {}
    wanted = set(keys)
    found: dict[tuple[int, str], tuple[Shipment, ...]] = {}
    # By incident and customer apart (each an indexed list), then the exact pairs here:
    # a list of pairs was a new statement for the database to parse on every batch.
    query = select(Impact.incident_id, Impact.customer_id, Impact.evidence).where(
        Impact.incident_id.in_({incident for incident, _ in wanted}),
        one_of(session, Impact.customer_id, {customer for _, customer in wanted}),
        Impact.rule == "late_shipment",
    )
    for incident_id, customer_id, evidence in session.execute(query):
        if (incident_id, customer_id) not in wanted:
            continue
        findings = json.loads(evidence)  # one object per rule that found the customer
        orders = [
            order
            for finding in (findings if isinstance(findings, list) else [findings])
            if isinstance(finding, dict) and finding.get("rule") == "late_shipment"
            for order in finding.get("orders") or []
        ]
        found[(incident_id, customer_id)] = tuple(
            Shipment(
                order_id=str(o["order_id"]),
                due_at=_instant(o["due_at"]),
                shipped_at=_instant(o["shipped_at"]) if o.get("shipped_at") else None,
            )
            for o in orders
        )
    return found


def _instant(value: str) -> datetime:
    # DuckDB writes TIMESTAMPTZ into JSON as '2008-03-24 20:00:00+00'.
    return parse_instant(value, "impact evidence")
