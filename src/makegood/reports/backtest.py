"""Use case: replay a policy over past incidents, writing nothing.

For each incident with stored impacts, every impact is decided under the policy
exactly as ``campaigns plan`` decides it (campaigns.planning.decide_all), counted the
way a plan's preview counts, and set beside what was actually granted and claimed for
that incident. Claim offers are a promise, not a cost: their expected cost uses the
claim rates seen so far (claimed over claim links issued, with a 95% Wilson
interval) by channel and locale. A link's channel is that of the letters that carried
it ("email", "sms", or "email,sms" when both did), and a customer's is the channels
they are reached on. A (channel, locale) group with fewer than ``MIN_LINKS`` links
issued gives way to its locale's rate, and a locale with as few to the overall rate.
Two policies can be compared customer by customer: whose remedy (mode or amount)
would change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from makegood.campaigns.planning import decide_all
from makegood.core.money import Money, format_major
from makegood.credits.models import KINDS, LedgerEntry, Offer
from makegood.credits.offers import PlannedOffer
from makegood.customers.models import Customer
from makegood.impact.models import Impact
from makegood.incidents.models import Incident
from makegood.messaging.models import Message
from makegood.messaging.queue import CHANNELS, DEFAULT_CHANNEL
from makegood.policy.schema import Policy
from makegood.reports.rules import wilson

ISSUED = ("offered", "claimed", "expired", "voided")
# The fewest claim links a (channel, locale) group, then a locale, must have behind
# it for its own claim rate to be used; with fewer, the next wider one is.
MIN_LINKS = 20
# What a claim offer's expected cost was rated by, narrowest first.
BASES = ("channel_locale", "locale", "overall")


@dataclass
class Rate:
    """Claimed over issued claim links, with its 95% interval."""

    claimed: int
    issued: int

    def bounds(self) -> tuple[Decimal, Decimal, Decimal]:
        """The rate, low and high; all 0 before any link was issued."""
        if not self.issued:
            return (Decimal(0),) * 3
        low, high = wilson(self.claimed, self.issued)
        rate = Decimal(self.claimed) / Decimal(self.issued)
        return rate, Decimal(str(low)), Decimal(str(high))


@dataclass
class ClaimRates:
    """Claim rates seen so far: by (channel, locale), by locale, and overall."""

    groups: dict[tuple[str, str], Rate] = field(default_factory=dict)
    locales: dict[str, Rate] = field(default_factory=dict)
    overall: Rate = field(default_factory=lambda: Rate(0, 0))

    def rate_for(self, channel: str, locale: str) -> tuple[str, Rate]:
        """The rate for a customer reached on ``channel`` in ``locale``, and its basis
        (one of BASES): the narrowest group with ``MIN_LINKS`` links behind it."""
        group = self.groups.get((channel, locale))
        if group is not None and group.issued >= MIN_LINKS:
            return "channel_locale", group
        by_locale = self.locales.get(locale)
        if by_locale is not None and by_locale.issued >= MIN_LINKS:
            return "locale", by_locale
        return "overall", self.overall


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
    rated_by: Counter[str] = field(default_factory=Counter)  # claim offers by basis (BASES)
    # What the ledger actually holds for the incident, by kind.
    actual: dict[str, Counter[str]] = field(default_factory=dict)


def incidents_for(
    session: Session, ids: Sequence[int] | None, since: datetime | None
) -> list[Incident]:
    """The incidents named, else every incident with impacts; with ``since``, only
    those of them that started at or after it."""
    query = select(Incident)
    if ids:
        query = query.where(Incident.id.in_(list(ids)))
    else:
        query = query.where(Incident.id.in_(select(Impact.incident_id).distinct()))
    if since is not None:
        query = query.where(Incident.start_at >= since)
    return list(session.scalars(query.order_by(Incident.start_at, Incident.id)))


def impacts_up_to(session: Session, incidents: Sequence[Incident], cap: int) -> int:
    """How many impacts the incidents have, counted no further than ``cap`` + 1: enough
    to tell whether replaying them is quick, without counting millions."""
    ids = [i.id for i in incidents]
    if not ids:
        return 0
    some = select(Impact.incident_id).where(Impact.incident_id.in_(ids)).limit(cap + 1)
    return int(session.scalar(select(func.count()).select_from(some.subquery())) or 0)


def unknown(session: Session, ids: Sequence[int]) -> list[int]:
    """Those of ``ids`` that name no incident."""
    found = set(session.scalars(select(Incident.id).where(Incident.id.in_(list(ids)))))
    return sorted(set(ids) - found)


def backtest(
    session: Session,
    policy: Policy,
    incidents: Sequence[Incident],
    now: datetime,
    holdout: Decimal,
    rates: ClaimRates | None = None,
) -> list[IncidentBacktest]:
    """Each incident decided under ``policy`` (see the module's docstring); ``rates``
    the claim rates to expect claims at (default: those seen so far)."""
    rates = rates if rates is not None else claim_rates(session)
    found = []
    for incident in incidents:
        one = IncidentBacktest(incident.id, incident.title)
        reached = _reached(session, incident.id)
        expected = (Counter[str](), Counter[str](), Counter[str]())
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
            basis, rate = rates.rate_for(*reached.get(offer.customer_id, (DEFAULT_CHANNEL, "")))
            one.rated_by[basis] += 1
            for counter, share in zip(expected, rate.bounds(), strict=True):
                counter[offer.currency] += _share(offer.amount_minor, share)
        mid, low, high = expected
        one.expected = {c: (mid[c], low[c], high[c]) for c in one.claim_totals}
        one.actual = _actual(session, incident.id)
        found.append(one)
    return found


def claim_rates(session: Session) -> ClaimRates:
    """Claim rates seen so far over every campaign's claim links, by the channels of
    the letters that carried each link and the customer's locale."""
    carried = [
        exists()
        .where(
            Message.campaign_id == Offer.campaign_id,
            Message.customer_id == Offer.customer_id,
            Message.channel == name,
            Message.offer_id == Offer.id,
            Message.kind == "claim_offer",
        )
        .label(name)
        for name in CHANNELS
    ]
    each = (
        select(Customer.locale.label("locale"), Offer.claimed_at.label("claimed_at"), *carried)
        .join(Customer, Customer.customer_id == Offer.customer_id)
        .where(Offer.mode == "claim", Offer.status.in_(ISSUED))
        .subquery()
    )
    flags = [each.c[name] for name in CHANNELS]
    rates = ClaimRates()
    for locale, *by, issued, claimed in session.execute(
        select(each.c.locale, *flags, func.count(), func.count(each.c.claimed_at)).group_by(
            each.c.locale, *flags
        )
    ):
        channel = ",".join(name for name, flag in zip(CHANNELS, by, strict=True) if flag)
        found = [rates.locales.setdefault(str(locale), Rate(0, 0)), rates.overall]
        if channel:  # a link whose letters are gone counts for its locale only
            found.append(rates.groups.setdefault((channel, str(locale)), Rate(0, 0)))
        for rate in found:
            rate.claimed += int(claimed)
            rate.issued += int(issued)
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


def _reached(session: Session, incident_id: int) -> dict[str, tuple[str, str]]:
    """Each impacted customer's channels (as a customers file names them; email when
    it names none) and locale."""
    return {
        str(cid): (str(channel or DEFAULT_CHANNEL), str(locale))
        for cid, channel, locale in session.execute(
            select(Impact.customer_id, Customer.channel, Customer.locale)
            .join(Customer, Customer.customer_id == Impact.customer_id)
            .where(Impact.incident_id == incident_id)
        )
    }


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
