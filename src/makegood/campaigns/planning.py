"""Use case: turn an incident's impacts into a draft campaign of offers.

One query streams the impacts with their customers; the policy decides each in
Decimal (pure code); offers are written in bulk (COPY on PostgreSQL). Excluded
customers get no offer, only a count by reason in the preview.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.campaigns.history import CreditHistory, load_history
from makegood.campaigns.models import Campaign, Offer
from makegood.core.errors import ConflictError, InvalidInputError
from makegood.core.money import currency_exponent, format_major
from makegood.credits.rules import days_in_month, statement_date
from makegood.customers.models import Customer
from makegood.db.bulk import insert_rows
from makegood.impact.models import Impact, ImpactRun
from makegood.incidents.models import Incident
from makegood.incidents.service import get as get_incident
from makegood.policy.rules import (
    CustomerFacts,
    Decision,
    Excluded,
    History,
    IncidentFacts,
    decide,
)
from makegood.policy.schema import Policy

BATCH = 20_000
OFFER_COLUMNS = (
    "campaign_id",
    "incident_id",
    "customer_id",
    "status",
    "mode",
    "rule",
    "amount_minor",
    "currency",
    "claim_days",
    "capped",
)


def held_out(incident_id: int, customer_id: str, percent: Decimal) -> bool:
    """Deterministic by (incident, customer): a re-plan holds out the same people."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"{incident_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < int(percent * 100)


@dataclass
class Tally:
    modes: Counter[str] = field(default_factory=Counter)
    excluded: Counter[str] = field(default_factory=Counter)
    held_out: int = 0
    totals: Counter[str] = field(default_factory=Counter)
    # Per currency: amounts in different currencies are not comparable.
    largest: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def offer(self, customer_id: str, amount: int, currency: str) -> None:
        self.totals[currency] += amount
        top = self.largest.setdefault(currency, [])
        if len(top) < 10:
            heapq.heappush(top, (amount, customer_id))
        else:
            heapq.heappushpop(top, (amount, customer_id))

    def preview(self, policy: Policy) -> dict[str, Any]:
        over = {
            c: format_major(m, c)
            for c, m in self.totals.items()
            if c in policy.limits.budget
            and Decimal(m).scaleb(-currency_exponent(c)) > policy.limits.budget[c]
        }
        return {
            "offers": self.modes["automatic"] + self.modes["claim"],
            "automatic": self.modes["automatic"],
            "claim": self.modes["claim"],
            "excluded": sum(self.excluded.values()),
            "excluded_by_reason": dict(sorted(self.excluded.items())),
            "held_out": self.held_out,
            "totals": {c: format_major(m, c) for c, m in sorted(self.totals.items())},
            "budget": {c: str(b) for c, b in policy.limits.budget.items()},
            "over_budget": over,
            "largest": [
                {"customer_id": cid, "amount": format_major(m, c), "currency": c}
                for c, top in sorted(self.largest.items())
                for m, cid in sorted(top, reverse=True)
            ],
        }


def plan(
    session: Session,
    incident_id: int,
    policy: Policy,
    holdout_percent: Decimal,
    now: datetime,
    actor: str,
) -> Campaign:
    """Create (or replace the draft) campaign for an incident and store its offers."""
    if not Decimal(0) <= holdout_percent < Decimal(100):
        raise InvalidInputError(f"--holdout: {holdout_percent} must be at least 0 and below 100")
    incident = get_incident(session, incident_id)
    if session.scalar(select(ImpactRun.id).where(ImpactRun.incident_id == incident_id)) is None:
        raise ConflictError(
            f"incident {incident_id} has no impacts yet; run `makegood impact run {incident_id}`"
        )
    campaign = _draft_for(session, incident_id, now)
    session.execute(delete(Offer).where(Offer.campaign_id == campaign.id))
    tally = Tally()
    history = load_history(session, incident, policy, now)
    rows = _decisions(session, incident, policy, holdout_percent, history, now, campaign, tally)
    for batch in _batches(rows):
        insert_rows(session, "offers", OFFER_COLUMNS, batch)
    preview = tally.preview(policy)
    campaign.policy_name, campaign.policy_version = policy.name, policy.version
    campaign.policy_digest, campaign.policy_source = policy.digest, policy.source
    campaign.holdout_percent, campaign.preview = str(holdout_percent), preview
    campaign.approvals_needed = 2 if preview["over_budget"] else 1
    campaign.planned_at, campaign.planned_by = now, actor
    record(
        session,
        at=now,
        actor=actor,
        action="campaign.planned",
        object_type="campaign",
        object_id=campaign.id,
        after={
            "policy": policy.name,
            "digest": policy.digest,
            **{k: preview[k] for k in ("offers", "excluded", "held_out", "totals")},
        },
    )
    session.flush()
    return campaign


def _draft_for(session: Session, incident_id: int, now: datetime) -> Campaign:
    live = session.scalars(
        select(Campaign)
        .where(Campaign.incident_id == incident_id, Campaign.status != "cancelled")
        .with_for_update()
    ).all()
    for campaign in live:
        if campaign.status != "draft":
            raise ConflictError(
                f"incident {incident_id} already has campaign {campaign.id} ({campaign.status}); "
                + (
                    "cancel it before planning again"
                    if campaign.status == "approved"
                    else "its offers stand"
                )
            )
    if live:
        return live[0]
    campaign = Campaign(incident_id=incident_id, status="draft", created_at=now)
    session.add(campaign)
    session.flush()
    return campaign


def _decisions(
    session: Session,
    incident: Incident,
    policy: Policy,
    holdout: Decimal,
    history: CreditHistory,
    now: datetime,
    campaign: Campaign,
    tally: Tally,
) -> Iterator[tuple[object, ...]]:
    facts = IncidentFacts(
        tuple(incident.services),
        incident.severity,
        incident.cause,
        int(((incident.end_at or now) - incident.start_at).total_seconds()) // 60,
    )
    query = (
        select(
            Impact.customer_id,
            Impact.confidence,
            Impact.magnitude,
            Customer.status,
            Customer.country,
            Customer.plan,
            Customer.monthly_price_minor,
            Customer.currency,
            Customer.timezone,
            Customer.next_bill_date,
        )
        .join(Customer, Customer.customer_id == Impact.customer_id)
        .where(Impact.incident_id == incident.id)
        .order_by(Impact.customer_id)
        .execution_options(yield_per=BATCH)
    )
    month_days: dict[str, int] = {}
    decisions: dict[tuple[object, ...], Decision] = {}
    statements: dict[tuple[date, str], date] = {}
    needs_statement = policy.limits.max_percent_per_statement is not None
    for (
        cid,
        confidence,
        magnitude,
        status,
        country,
        plan_,
        price,
        currency,
        zone,
        bill,
    ) in session.execute(query):
        if zone not in month_days:
            month_days[zone] = days_in_month(now, zone)
        on_statement = 0
        if needs_statement:
            key = (bill, zone)
            if key not in statements:
                statements[key] = statement_date(bill, now, zone)
            on_statement = history.by_statement.get((cid, statements[key]), 0)
        # decide() is pure, and customers share prices, plans and zones: compute each
        # distinct set of facts once.
        key_ = (
            confidence,
            magnitude,
            status,
            country,
            plan_,
            price,
            currency,
            month_days[zone],
            on_statement,
            history.in_window.get(cid, 0),
            cid in history.compensated,
        )
        decision = decisions.get(key_)
        if decision is None:
            customer = CustomerFacts(status, country, plan_, price, currency, month_days[zone])
            past = History(key_[8], key_[9], key_[10])
            decision = decisions[key_] = decide(
                policy, facts, customer, confidence, magnitude, past
            )
        if isinstance(decision, Excluded):
            tally.excluded[decision.reason] += 1
            continue
        status_ = "held_out" if held_out(incident.id, cid, holdout) else "planned"
        if status_ == "held_out":
            tally.held_out += 1
        else:
            tally.modes[decision.mode] += 1
            tally.offer(cid, decision.amount_minor, currency)
        yield (
            campaign.id,
            incident.id,
            cid,
            status_,
            decision.mode,
            decision.rule,
            decision.amount_minor,
            currency,
            decision.claim_days,
            decision.capped,
        )


def _batches(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
