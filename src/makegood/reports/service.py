"""Use case: what an incident cost and what it bought, counted from the records.

One report per incident: who was affected and how surely; who was excluded and
why; who was held out; offers by mode and status; messages by delivery status, and
customers notified, delivered, failed and suppressed; the funnel from affected to
credited; claims, the claim rate and claims over time; credits per currency and as a
share of the affected customers' monthly revenue; time to apology; and retention
against the holdout group; and where its ledger entries stand with each billing system
they are pushed to (delivered, pending, failed for good and why). Amounts stay in
integer minor units here; the API, the CLI and the HTML report format them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from makegood.billing.standing import SinkStanding, standing
from makegood.campaigns.models import Campaign
from makegood.campaigns.preview import OPTED_OUT
from makegood.credits.models import KINDS, LedgerEntry, Offer
from makegood.customers.models import Customer
from makegood.impact.models import Impact
from makegood.incidents.models import Incident
from makegood.incidents.service import get as get_incident
from makegood.kits.charts.series import Series
from makegood.messaging.models import (
    MESSAGE_STATES,
    PENDING_STATES,
    MailFeedback,
    Message,
    Suppression,
)
from makegood.reports.corrections import corrections
from makegood.reports.offer_status import open_at, status_at
from makegood.reports.retention import Retention, retention
from makegood.reports.rules import fraction
from makegood.reports.timing import NO_APOLOGY, TimeToApology, claims_over_time, time_to_apology

CLAIM_ISSUED = ("offered", "claimed", "expired", "voided")
RATE_PLACES = Decimal("0.0001")
SHARE_PLACES = Decimal("0.000001")  # credits over monthly revenue: 0.000001 is 0.0001%
# Offers that reached the customer as a remedy (not planned, not held out).
ISSUED = ("granted", "offered", "claimed", "expired", "voided")


@dataclass(frozen=True)
class Credits:
    """One currency's credits for the incident, in minor units."""

    granted: int = 0  # automatic credits
    claimed: int = 0  # credits customers claimed
    reversed: int = 0  # reversals (negative or zero)

    @property
    def net(self) -> int:
        return self.granted + self.claimed + self.reversed


@dataclass(frozen=True)
class Claims:
    offered: int  # claim links issued
    claimed: int  # of those, claimed (even if voided later)

    @property
    def rate(self) -> Decimal | None:
        """Claimed over offered, four places; None when no link was issued."""
        if not self.offered:
            return None
        return (Decimal(self.claimed) / Decimal(self.offered)).quantize(
            RATE_PLACES, rounding=ROUND_HALF_UP
        )


@dataclass(frozen=True)
class Delivery:
    """Customers by what became of their apology (one customer, one outcome)."""

    notified: int = 0  # customers with an apology in the outbox
    delivered: int = 0  # at least one of their messages accepted by the mail relay
    failed: int = 0  # none accepted and none pending; the relay refused or tries ran out
    suppressed: int = 0  # none accepted; their address had refused mail for good
    pending: int = 0  # none accepted yet; still queued, sending or retrying
    bounced: int = 0  # accepted, then bounced for good by the receiving system
    complained: int = 0  # reported an apology as spam (counted apart from the above)
    opted_out: int = 0  # unsubscribed or complained before their letter: credited, not mailed


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    customers: int


@dataclass(frozen=True)
class Cost:
    """One currency's net credit beside what its affected customers pay a month."""

    currency: str
    net: int  # granted + claimed + reversed, minor units
    customers: int  # affected customers billed in this currency
    monthly_revenue: int  # the sum of their monthly prices, minor units
    open_claims: int  # claim links still open: at most this much more may be claimed

    @property
    def share(self) -> Decimal | None:
        """Net credit over monthly revenue (a fraction); None without revenue."""
        return fraction(self.net, self.monthly_revenue, SHARE_PLACES)


@dataclass(frozen=True)
class IncidentReport:
    incident: Incident
    as_of: datetime
    campaign: Campaign | None  # the campaign not cancelled, if any
    affected: dict[str, int]  # by confidence
    excluded: dict[str, int]  # by reason
    held_out: int
    offers: dict[str, dict[str, int]]  # mode -> status -> count
    messages: dict[str, int]  # status -> count
    claims: Claims
    credits: dict[str, Credits] = field(default_factory=dict)  # by currency
    delivery: Delivery = field(default_factory=Delivery)
    funnel: list[Step] = field(default_factory=list)
    costs: list[Cost] = field(default_factory=list)  # by currency
    claims_over_time: Series | None = None
    time_to_apology: TimeToApology = NO_APOLOGY
    retention: Retention | None = None
    billing: dict[str, SinkStanding] = field(default_factory=dict)  # by sink
    # Amendments, the difference they made, and the follow-up campaigns (None: never
    # amended); see reports/corrections.py.
    corrections: dict[str, Any] | None = None


def incident_report(session: Session, incident_id: int, now: datetime) -> IncidentReport:
    """The report for one incident as of ``now`` (which decides what has expired)."""
    incident = get_incident(session, incident_id)
    # The apology campaign itself (round 0); follow-ups are reported as corrections.
    campaign = session.scalar(
        select(Campaign)
        .where(Campaign.incident_id == incident_id, Campaign.status != "cancelled")
        .order_by(Campaign.round, Campaign.id.desc())
        .limit(1)
    )
    offers = _offers(session, incident_id, now)
    affected = _affected(session, incident_id)
    claims = _claims(session, incident_id)
    credits = _credits(session, incident_id)
    delivery = Delivery() if campaign is None else delivery_of(session, campaign.id)
    timing = (
        TimeToApology(incident.end_at, 0, None, None, None, None)
        if campaign is None
        else time_to_apology(session, campaign.id, incident.end_at)
    )
    return IncidentReport(
        incident=incident,
        as_of=now,
        campaign=campaign,
        affected=affected,
        excluded=dict((campaign.preview or {}).get("excluded_by_reason", {})) if campaign else {},
        held_out=sum(offers.get(mode, {}).get("held_out", 0) for mode in offers),
        offers=offers,
        messages=_messages(session, incident_id),
        claims=claims,
        credits=credits,
        delivery=delivery,
        funnel=_funnel(session, incident_id, sum(affected.values()), delivery, claims),
        costs=_costs(session, incident_id, credits, now),
        claims_over_time=None
        if campaign is None
        else claims_over_time(session, campaign.id, timing.first_accepted),
        time_to_apology=timing,
        retention=retention(session, campaign),
        billing=standing(session, incident_id=incident_id),
        corrections=corrections(session, incident_id),
    )


def _affected(session: Session, incident_id: int) -> dict[str, int]:
    counts = {"confirmed": 0, "possible": 0}
    for confidence, n in session.execute(
        select(Impact.confidence, func.count())
        .where(Impact.incident_id == incident_id)
        .group_by(Impact.confidence)
    ):
        counts[str(confidence)] = int(n)
    return counts


def _offers(session: Session, incident_id: int, now: datetime) -> dict[str, dict[str, int]]:
    """Offers by mode and status as of ``now``: a claim past its deadline is expired,
    whether or not anything marked it so."""
    status = status_at(now)
    found: dict[str, dict[str, int]] = {}
    for mode, state, n in session.execute(
        select(Offer.mode, status, func.count())
        .where(Offer.incident_id == incident_id)
        .group_by(Offer.mode, status)
    ):
        found.setdefault(str(mode), {})[str(state)] = int(n)
    return found


def _messages(session: Session, incident_id: int) -> dict[str, int]:
    counts = dict.fromkeys(MESSAGE_STATES, 0)
    campaigns = select(Campaign.id).where(Campaign.incident_id == incident_id)
    for state, n in session.execute(
        select(Message.status, func.count())
        .where(Message.campaign_id.in_(campaigns))
        .group_by(Message.status)
    ):
        counts[str(state)] = int(n)
    return counts


def _claims(session: Session, incident_id: int) -> Claims:
    offered, claimed = session.execute(
        select(
            func.count(),
            func.count(Offer.claimed_at),
        ).where(
            Offer.incident_id == incident_id,
            Offer.mode == "claim",
            Offer.status.in_(CLAIM_ISSUED),
        )
    ).one()
    return Claims(offered=int(offered), claimed=int(claimed))


def _credits(session: Session, incident_id: int) -> dict[str, Credits]:
    sums: dict[str, dict[str, int]] = {}
    for currency, kind, total in session.execute(
        select(LedgerEntry.currency, LedgerEntry.kind, func.sum(LedgerEntry.amount_minor))
        .where(LedgerEntry.incident_id == incident_id)
        .group_by(LedgerEntry.currency, LedgerEntry.kind)
    ):
        sums.setdefault(str(currency), dict.fromkeys(KINDS, 0))[str(kind)] = int(total or 0)
    return {
        currency: Credits(granted=by["grant"], claimed=by["claim"], reversed=by["reversal"])
        for currency, by in sorted(sums.items())
    }


def delivery_of(session: Session, campaign_id: int) -> Delivery:
    """Each customer with a message once: delivered if any was accepted (and not
    bounced since), else pending if any may still go, else suppressed if their address
    was, else bounced if one came back, else failed. Complaints are counted apart."""

    def has(*states: str) -> ColumnElement[int]:
        return func.max(case((Message.status.in_(states), 1), else_=0))

    per_customer = (
        select(
            has("sent").label("sent"),
            has(*PENDING_STATES).label("pending"),
            has("suppressed").label("suppressed"),
            has("bounced").label("bounced"),
        )
        .where(Message.campaign_id == campaign_id)
        .group_by(Message.customer_id)
        .subquery()
    )
    c = per_customer.c

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    unsent = and_(c.sent == 0, c.pending == 0)
    notified, delivered, pending, suppressed, bounced = session.execute(
        select(
            func.count(),
            count(c.sent == 1),
            count(and_(c.sent == 0, c.pending == 1)),
            count(and_(unsent, c.suppressed == 1)),
            count(and_(unsent, c.suppressed == 0, c.bounced == 1)),
        )
    ).one()
    complained = session.scalar(
        select(func.count(func.distinct(Message.customer_id)))
        .join(MailFeedback, MailFeedback.message_id == Message.id)
        .where(Message.campaign_id == campaign_id, MailFeedback.kind == "complaint")
    )
    failed = int(notified) - int(delivered) - int(pending) - int(suppressed) - int(bounced)
    return Delivery(
        int(notified),
        int(delivered),
        failed,
        int(suppressed),
        int(pending),
        int(bounced),
        int(complained or 0),
        _opted_out(session, campaign_id),
    )


def _opted_out(session: Session, campaign_id: int) -> int:
    """Customers whose letters were held back because they asked for no more email."""
    return int(
        session.scalar(
            select(func.count(func.distinct(Message.customer_id)))
            .join(
                Suppression,
                and_(
                    Suppression.channel == "email",
                    Suppression.address == func.lower(Message.recipient),
                ),
            )
            .where(
                Message.campaign_id == campaign_id,
                Message.status == "suppressed",
                Message.channel == "email",
                or_(*(Suppression.reason.like(f"{r}%") for r in OPTED_OUT)),
            )
        )
        or 0
    )


def _funnel(
    session: Session, incident_id: int, affected: int, delivery: Delivery, claims: Claims
) -> list[Step]:
    """Affected, offered a remedy, notified, delivered, then credited automatically
    and claimed (each shown when the campaign has offers of that mode)."""
    offered, granted, automatic = session.execute(
        select(
            func.count(),
            func.count(Offer.granted_at),
            func.coalesce(func.sum(case((Offer.mode == "automatic", 1), else_=0)), 0),
        ).where(Offer.incident_id == incident_id, Offer.status.in_(ISSUED))
    ).one()
    steps = [
        Step("affected", "Affected", affected),
        Step("offered", "Offered a remedy", int(offered)),
        Step("notified", "Apology written", delivery.notified),
        Step("delivered", "Apology delivered", delivery.delivered),
    ]
    if automatic:
        steps.append(Step("granted", "Credited automatically", int(granted)))
    if claims.offered:
        steps.append(Step("claimed", "Claimed their credit", claims.claimed))
    return steps


def _costs(
    session: Session, incident_id: int, credits: dict[str, Credits], now: datetime
) -> list[Cost]:
    """Per currency: net credit, the affected customers' monthly revenue, open claims."""
    revenue = {
        str(currency): (int(n), int(total or 0))
        for currency, n, total in session.execute(
            select(Customer.currency, func.count(), func.sum(Customer.monthly_price_minor))
            .join(Impact, Impact.customer_id == Customer.customer_id)
            .where(Impact.incident_id == incident_id)
            .group_by(Customer.currency)
        )
    }
    open_claims = {
        str(currency): int(total or 0)
        for currency, total in session.execute(
            select(Offer.currency, func.sum(Offer.amount_minor))
            .where(Offer.incident_id == incident_id, open_at(now))
            .group_by(Offer.currency)
        )
    }
    return [
        Cost(
            currency=currency,
            net=credits[currency].net if currency in credits else 0,
            customers=revenue.get(currency, (0, 0))[0],
            monthly_revenue=revenue.get(currency, (0, 0))[1],
            open_claims=open_claims.get(currency, 0),
        )
        for currency in sorted(set(revenue) | set(credits) | set(open_claims))
    ]
