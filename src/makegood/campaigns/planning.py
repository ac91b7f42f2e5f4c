"""Use case: turn an incident's impacts into a draft campaign of offers.

One query streams the impacts with their customers; the policy decides each in
Decimal (pure code); offers are written in bulk (COPY on PostgreSQL). Excluded
customers get no offer, only a count by reason in the preview.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.campaigns import followup
from makegood.campaigns.history import CreditHistory, load_history
from makegood.campaigns.models import EXECUTED_STATES, Approval, Campaign
from makegood.campaigns.service import drop_corrections
from makegood.core.errors import ConflictError, InvalidInputError
from makegood.core.money import Money, format_major
from makegood.credits.models import Offer
from makegood.credits.offers import PlannedOffer, replace_planned
from makegood.credits.rules import days_in_month, statement_date
from makegood.customers.models import Customer
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


def held_out(incident_id: int, customer_id: str, percent: Decimal) -> bool:
    """Deterministic by (incident, customer): a re-plan holds out the same people."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"{incident_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < int(percent * 100)


def preview(
    session: Session, campaign_id: int, policy: Policy, excluded: Counter[str]
) -> dict[str, Any]:
    """The plan at a glance, counted from the stored offers with a few aggregates."""
    modes = Counter(
        {
            f"{status}:{mode}": int(n)
            for status, mode, n in session.execute(
                select(Offer.status, Offer.mode, func.count())
                .where(Offer.campaign_id == campaign_id)
                .group_by(Offer.status, Offer.mode)
            )
        }
    )
    totals = {
        str(c): int(m)
        for c, m in session.execute(
            select(Offer.currency, func.sum(Offer.amount_minor))
            .where(Offer.campaign_id == campaign_id, Offer.status == "planned")
            .group_by(Offer.currency)
            .order_by(Offer.currency)
        )
    }
    largest = _largest(session, campaign_id)
    over = {
        c: format_major(m, c)
        for c, m in totals.items()
        if c in policy.limits.budget and Money(m, c).major > policy.limits.budget[c]
    }
    return {
        "offers": modes["planned:automatic"] + modes["planned:claim"],
        "automatic": modes["planned:automatic"],
        "claim": modes["planned:claim"],
        "excluded": sum(excluded.values()),
        "excluded_by_reason": dict(sorted(excluded.items())),
        "held_out": modes["held_out:automatic"] + modes["held_out:claim"],
        "totals": {c: format_major(m, c) for c, m in totals.items()},
        "budget": {c: str(b) for c, b in policy.limits.budget.items()},
        "over_budget": over,
        "largest": [
            {"customer_id": cid, "amount": format_major(m, c), "currency": c}
            for cid, m, c in largest
        ],
    }


def _largest(session: Session, campaign_id: int) -> list[tuple[str, int, str]]:
    """The ten largest planned offers per currency (amounts in different currencies
    are not comparable)."""
    ranked = (
        select(
            Offer.customer_id,
            Offer.amount_minor,
            Offer.currency,
            func.row_number()
            .over(
                partition_by=Offer.currency, order_by=(Offer.amount_minor.desc(), Offer.customer_id)
            )
            .label("rank"),
        )
        .where(Offer.campaign_id == campaign_id, Offer.status == "planned")
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.customer_id, ranked.c.amount_minor, ranked.c.currency)
        .where(ranked.c.rank <= 10)
        .order_by(ranked.c.currency, ranked.c.rank)
    )
    return [(str(cid), int(minor), str(currency)) for cid, minor, currency in rows]


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
    follow_up = campaign.round > 0
    before = _planned(campaign) if campaign.planned_at is not None else None
    if before is not None:
        # An approval is of one plan: a re-planned draft must be approved afresh.
        before["approvers"] = list(
            session.scalars(select(Approval.approver).where(Approval.campaign_id == campaign.id))
        )
        session.execute(delete(Approval).where(Approval.campaign_id == campaign.id))
    excluded: Counter[str] = Counter()
    # A follow-up is decided as if the incident had not been credited yet, then less
    # what each customer already has (campaigns/followup.py).
    history = load_history(session, incident, policy, now, without_own=follow_up)
    gone: list[tuple[str, str]] | None = [] if follow_up else None
    rows = _decisions(
        session, incident, policy, holdout_percent, history, now, campaign, excluded, gone
    )
    covered: Counter[str] = Counter()
    batches = followup.adjusted(session, campaign.round, rows, covered) if follow_up else None
    replace_planned(session, campaign.id, batches or _batches(rows))
    drop_corrections(session, campaign.id)
    if gone is not None:
        followup.plan_corrections(session, campaign, policy, gone)
    summary = preview(session, campaign.id, policy, excluded)
    if follow_up:
        summary.update(followup.figures(session, campaign, covered))
    campaign.policy_name, campaign.policy_version = policy.name, policy.version
    campaign.policy_digest, campaign.policy_source = policy.digest, policy.source
    campaign.holdout_percent, campaign.preview = str(holdout_percent), summary
    campaign.approvals_needed = 2 if summary["over_budget"] else 1
    campaign.planned_at, campaign.planned_by = now, actor
    record(
        session,
        at=now,
        actor=actor,
        action="campaign.planned",
        object_type="campaign",
        object_id=campaign.id,
        before=before,
        after=_planned(campaign),
    )
    session.flush()
    return campaign


def _planned(campaign: Campaign) -> dict[str, Any]:
    """A plan as the audit log keeps it (a re-plan shows the draft it replaced)."""
    preview = campaign.preview or {}
    return {
        "policy": campaign.policy_name,
        "digest": campaign.policy_digest,
        "holdout_percent": campaign.holdout_percent,
        **{k: preview.get(k) for k in ("offers", "excluded", "held_out", "totals")},
    }


def _draft_for(session: Session, incident_id: int, now: datetime) -> Campaign:
    """The incident's draft, or a new one: its first campaign, or a follow-up after an
    amendment once earlier campaigns were executed (campaigns/followup.py)."""
    live = session.scalars(
        select(Campaign)
        .where(Campaign.incident_id == incident_id, Campaign.status != "cancelled")
        .order_by(Campaign.id)
        .with_for_update()
    ).all()
    for campaign in live:
        if campaign.status == "approved":
            raise ConflictError(
                f"incident {incident_id} already has campaign {campaign.id} (approved); "
                "cancel it before planning again"
            )
    executed = [c for c in live if c.status in EXECUTED_STATES]
    drafts = [c for c in live if c.status == "draft"]
    round_ = followup.next_round(session, incident_id, executed)
    if drafts:
        drafts[0].round, drafts[0].amendment_id = round_.number, round_.amendment_id
        return drafts[0]
    campaign = Campaign(
        incident_id=incident_id,
        status="draft",
        created_at=now,
        round=round_.number,
        amendment_id=round_.amendment_id,
    )
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
    excluded: Counter[str],
    gone: list[tuple[str, str]] | None = None,
) -> Iterator[PlannedOffer]:
    """The policy's decision for every impact; the excluded are counted by reason
    (and, for a follow-up, listed in ``gone`` when the amended incident itself is why:
    followup.correction_reason)."""
    facts, cause = _incident_facts(incident, now), incident.cause
    campaign_id, incident_id = campaign.id, incident.id  # plain ints in the hot loop
    month_days: dict[str, int] = {}
    decisions: dict[tuple[object, ...], Decision] = {}
    statements: dict[tuple[date, str], date] = {}
    needs_statement = policy.limits.max_percent_per_statement is not None
    rows = session.connection().execute(
        _impacts(incident.id), execution_options={"yield_per": BATCH}
    )
    for cid, confidence, magnitude, status, country, plan_, price, currency, zone, bill in rows:
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
        facts_ = (status, country, plan_, price, currency, month_days[zone])
        past = (on_statement, history.in_window.get(cid, 0), cid in history.compensated)
        key_ = (confidence, magnitude, *facts_, *past)
        decision = decisions.get(key_)
        if decision is None:
            decision = decisions[key_] = decide(
                policy, facts, CustomerFacts(*facts_), confidence, magnitude, History(*past)
            )
        if isinstance(decision, Excluded):
            excluded[decision.reason] += 1
            if gone is not None:
                _gone(gone, cid, followup.correction_reason(policy, cause, decision.reason))
            continue
        status_ = "held_out" if holdout and held_out(incident_id, cid, holdout) else "planned"
        yield PlannedOffer(
            campaign_id,
            incident_id,
            cid,
            status_,
            decision.mode,
            decision.rule,
            decision.amount_minor,
            currency,
            decision.claim_days,
            decision.capped,
        )


def _gone(gone: list[tuple[str, str]], customer_id: str, reason: str | None) -> None:
    if reason is not None:
        gone.append((customer_id, reason))


def decide_all(
    session: Session,
    incident: Incident,
    policy: Policy,
    holdout: Decimal,
    now: datetime,
    excluded: Counter[str],
) -> Iterator[PlannedOffer]:
    """What ``plan`` would decide for every impact of the incident, writing nothing:
    the same decisions, with the customers' credit history less this incident's own
    credits (so a past incident is decided as if it had not been credited yet)."""
    history = load_history(session, incident, policy, now, without_own=True)
    return _decisions(session, incident, policy, holdout, history, now, _NO_CAMPAIGN, excluded)


class _Unsaved:
    id = 0


_NO_CAMPAIGN: Any = _Unsaved()


def _incident_facts(incident: Incident, now: datetime) -> IncidentFacts:
    minutes = int(((incident.end_at or now) - incident.start_at).total_seconds()) // 60
    return IncidentFacts(tuple(incident.services), incident.severity, incident.cause, minutes)


def _impacts(incident_id: int) -> Select[*tuple[Any, ...]]:
    """The incident's impacts with what the policy needs of each customer, in
    customer order (offers are written, and later executed, in that order)."""
    return (
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
        .where(Impact.incident_id == incident_id)
        .order_by(Impact.customer_id)
    )


def _batches(rows: Iterator[PlannedOffer]) -> Iterator[list[PlannedOffer]]:
    batch: list[PlannedOffer] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
