"""Use case: replay a policy over past incidents, writing nothing.

For each incident with stored impacts, every impact is decided under the policy
exactly as ``campaigns plan`` decides it (campaigns.planning.decide_all), counted the
way a plan's preview counts, and set beside what was actually granted and claimed for
that incident. Claim offers are a promise, not a cost: their expected cost uses the
claim rates seen so far in each locale (claimed over claim links issued, with a 95%
Wilson interval; the overall rate where a locale has none yet). Two policies can be
compared customer by customer: whose remedy (mode or amount) would change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from makegood.campaigns.planning import decide_all
from makegood.core.money import Money, format_major
from makegood.credits.models import KINDS, LedgerEntry, Offer
from makegood.credits.offers import PlannedOffer
from makegood.customers.models import Customer
from makegood.impact.models import Impact
from makegood.incidents.models import Incident
from makegood.policy.schema import Policy
from makegood.reports.rules import wilson

ISSUED = ("offered", "claimed", "expired", "voided")


@dataclass
class Rate:
    """Claimed over issued claim links, with its 95% interval."""

    claimed: int
    issued: int

    def bounds(self, fallback: Rate | None = None) -> tuple[Decimal, Decimal, Decimal]:
        if not self.issued:
            return fallback.bounds() if fallback is not None else (Decimal(0),) * 3
        low, high = wilson(self.claimed, self.issued)
        rate = Decimal(self.claimed) / Decimal(self.issued)
        return rate, Decimal(str(low)), Decimal(str(high))


@dataclass
class IncidentBacktest:
    incident_id: int
    title: str
    offers: int = 0
    automatic: int = 0
    claim: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    held_out: int = 0
    totals: Counter[str] = field(default_factory=Counter)  # currency -> minor units
    claim_totals: Counter[str] = field(default_factory=Counter)
    expected: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # mid, low, high
    # What the ledger actually holds for the incident, by kind.
    actual: dict[str, Counter[str]] = field(default_factory=dict)


def incidents_for(
    session: Session, ids: Sequence[int] | None, since: datetime | None
) -> list[Incident]:
    """The incidents named, else every incident with impacts that started since ``since``."""
    query = select(Incident).where(Incident.id.in_(select(Impact.incident_id).distinct()))
    if ids:
        query = select(Incident).where(Incident.id.in_(list(ids)))
    elif since is not None:
        query = query.where(Incident.start_at >= since)
    return list(session.scalars(query.order_by(Incident.start_at, Incident.id)))


def backtest(
    session: Session, policy: Policy, incidents: Sequence[Incident], now: datetime, holdout: Decimal
) -> list[IncidentBacktest]:
    rates = claim_rates(session)
    found = []
    for incident in incidents:
        one = IncidentBacktest(incident.id, incident.title)
        locales = _locales(session, incident.id)
        mid: Counter[str] = Counter()
        low: Counter[str] = Counter()
        high: Counter[str] = Counter()
        for offer in decide_all(session, incident, policy, holdout, now, one.excluded):
            if offer.status == "held_out":
                one.held_out += 1
                continue
            one.offers += 1
            one.totals[offer.currency] += offer.amount_minor
            if offer.mode == "automatic":
                one.automatic += 1
                continue
            one.claim += 1
            one.claim_totals[offer.currency] += offer.amount_minor
            rate = rates.get(locales.get(offer.customer_id, ""))
            r, lo, hi = (rate or rates[""]).bounds(rates[""])
            for counter, share in ((mid, r), (low, lo), (high, hi)):
                counter[offer.currency] += _share(offer.amount_minor, share)
        one.expected = {c: (mid[c], low[c], high[c]) for c in one.claim_totals}
        one.actual = _actual(session, incident.id)
        found.append(one)
    return found


def claim_rates(session: Session) -> dict[str, Rate]:
    """Claim rates seen so far by the customer's locale; "" is all locales together."""
    rates: dict[str, Rate] = {"": Rate(0, 0)}
    for locale, issued, claimed in session.execute(
        select(Customer.locale, func.count(), func.count(Offer.claimed_at))
        .join(Customer, Customer.customer_id == Offer.customer_id)
        .where(Offer.mode == "claim", Offer.status.in_(ISSUED))
        .group_by(Customer.locale)
    ):
        rates[str(locale)] = Rate(int(claimed), int(issued))
        rates[""].claimed += int(claimed)
        rates[""].issued += int(issued)
    return rates


def changes(
    session: Session,
    policy: Policy,
    against: Policy,
    incidents: Sequence[Incident],
    now: datetime,
) -> Iterator[dict[str, str]]:
    """Each customer whose remedy differs between ``policy`` and ``against``."""
    for incident in incidents:
        mine = _by_customer(decide_all(session, incident, policy, Decimal(0), now, Counter()))
        theirs = _by_customer(decide_all(session, incident, against, Decimal(0), now, Counter()))
        for customer in sorted(set(mine) | set(theirs)):
            a, b = mine.get(customer), theirs.get(customer)
            if a != b:
                yield {
                    "incident_id": str(incident.id),
                    "customer_id": customer,
                    "policy": _remedy(a),
                    "against": _remedy(b),
                }


def _by_customer(offers: Iterator[PlannedOffer]) -> dict[str, tuple[str, int, str]]:
    return {o.customer_id: (o.mode, o.amount_minor, o.currency) for o in offers}


def _remedy(found: tuple[str, int, str] | None) -> str:
    if found is None:
        return "nothing"
    mode, minor, currency = found
    return f"{mode} {format_major(minor, currency)} {currency}"


def _locales(session: Session, incident_id: int) -> dict[str, str]:
    return dict(
        session.execute(
            select(Impact.customer_id, Customer.locale)
            .join(Customer, Customer.customer_id == Impact.customer_id)
            .where(Impact.incident_id == incident_id)
        ).all()
    )


def _actual(session: Session, incident_id: int) -> dict[str, Counter[str]]:
    """The ledger's grant, claim and reversal totals for the incident, per currency."""
    found: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    for kind, currency, total in session.execute(
        select(LedgerEntry.kind, LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
        .where(LedgerEntry.incident_id == incident_id)
        .group_by(LedgerEntry.kind, LedgerEntry.currency)
    ):
        found[str(kind)][str(currency)] += int(total or 0)
    return found


def _share(minor: int, rate: Decimal) -> int:
    return int((Decimal(minor) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def money_text(totals: Counter[str]) -> dict[str, str]:
    return {c: Money(m, c).major_text for c, m in sorted(totals.items())}
