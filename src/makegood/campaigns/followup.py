"""Follow-up campaigns: making it right after an incident is amended.

The first campaign (round 0) went out on the incident as declared. After
``incidents amend`` and a fresh ``impact run``, ``campaigns plan`` makes a follow-up
(round 1, 2, ...) that the same policy decides over the new impacts, less what was
already given:

- a customer with no earlier offer gets one, with its letter (newly affected, or
  now over a threshold they were under);
- a customer whose credit was given (granted or claimed) and whom the policy now
  owes more gets a top-up of the difference, granted automatically and without a
  second letter (they were already told, and no one is mailed twice);
- a customer held out, with an open or expired claim link, or a voided offer, gets
  nothing more;
- a customer with an earlier offer whom the amended incident itself no longer
  entitles gets a correction: no longer affected, excluded by a cause the policy
  excludes (then every customer is, whatever else excludes them first), or matched
  by no rule any more (the rules match on services, duration, magnitude and
  confidence, which an amendment changes). The policy's ``[corrections]`` mode keeps
  the offer, closes an open claim link, or reverses a given credit;
- a customer with an earlier offer who is excluded for any other reason keeps what
  they have and is offered nothing more: reasons of their own (``status:``,
  ``country:``, ``plan:``, say a customer who cancelled since), of their history
  (``already_compensated``, ``cap_reached``) or of the amount (``below_minimum``,
  ``no_amount_for_currency``) are no fault of the first campaign's.

Every step keeps the exactly-once guarantees: offers are unique per (incident,
customer, round), corrections per (campaign, offer), and execution moves each only
out of its planned state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import case, func, select, text
from sqlalchemy.orm import Session

from makegood.campaigns.models import Campaign, Correction
from makegood.core.errors import ConflictError
from makegood.core.money import format_major
from makegood.credits.models import Offer
from makegood.credits.offers import PlannedOffer
from makegood.db.bulk import insert_rows
from makegood.impact.models import ImpactRun
from makegood.incidents.amend import latest_amendment
from makegood.policy.schema import Policy

GIVEN = ("granted", "claimed")
ACTIVE = ("granted", "offered", "claimed")
TOP_UP = "top-up: "
BATCH = 20_000
GONE = "correction_customers"
# The one exclusion besides a cause that follows from the incident rather than from
# the customer, their history or the amount: no rule matches it any more.
NO_RULE = "no_matching_rule"
# The action each mode takes on an offer that is still open (offered) or given.
ACTIONS = {
    "keep": ("keep", "keep"),
    "close_unclaimed": ("close", "keep"),
    "reverse": ("close", "reverse"),
}


@dataclass(frozen=True)
class Round:
    number: int
    amendment_id: int | None


def next_round(session: Session, incident_id: int, executed: list[Campaign]) -> Round:
    """The round a new campaign for the incident takes: 0 for its first; after an
    executed campaign, a follow-up only once the incident was amended since and its
    impacts run again."""
    amendment = latest_amendment(session, incident_id)
    if not executed:
        return Round(0, amendment)
    last = max(executed, key=lambda c: (c.round, c.id))
    if amendment is None or amendment == last.amendment_id:
        raise ConflictError(
            f"incident {incident_id} already has campaign {last.id} ({last.status}); its "
            "offers stand. If the incident was not as declared, correct it (`makegood "
            f"incidents amend {incident_id} ...`), run `makegood impact run {incident_id}`, "
            "then plan a follow-up campaign"
        )
    running = [c.id for c in executed if c.status == "executing"]
    if running:
        raise ConflictError(
            f"campaign {running[0]} of incident {incident_id} is still executing; let it "
            f"finish (`makegood campaigns execute {running[0]}`) before a follow-up"
        )
    ran = session.scalar(
        select(ImpactRun.amendment_id)
        .where(ImpactRun.incident_id == incident_id)
        .order_by(ImpactRun.id.desc())
        .limit(1)
    )
    if ran != amendment:
        raise ConflictError(
            f"incident {incident_id} was amended after its last impact run; run `makegood "
            f"impact run {incident_id}` first, so the follow-up covers the difference"
        )
    return Round(last.round + 1, amendment)


def adjusted(
    session: Session, round_: int, planned: Iterator[PlannedOffer], covered: Counter[str]
) -> Iterator[list[PlannedOffer]]:
    """The follow-up's offers from what the policy decides now, in batches: each less
    what the customer already has from earlier rounds (see the module's docstring)."""
    batch: list[PlannedOffer] = []
    for offer in planned:
        batch.append(offer)
        if len(batch) >= BATCH:
            yield _less_prior(session, round_, batch, covered)
            batch = []
    if batch:
        yield _less_prior(session, round_, batch, covered)


def _less_prior(
    session: Session, round_: int, batch: list[PlannedOffer], covered: Counter[str]
) -> list[PlannedOffer]:
    first, last = batch[0], batch[-1]
    rows = session.execute(
        select(
            Offer.customer_id,
            func.sum(case((Offer.status.in_(GIVEN), Offer.amount_minor), else_=0)),
            func.sum(case((Offer.status.in_(GIVEN), 0), else_=1)),
            func.min(Offer.currency),
        )
        .where(
            Offer.incident_id == first.incident_id,
            Offer.round < round_,
            Offer.customer_id.between(first.customer_id, last.customer_id),
        )
        .group_by(Offer.customer_id)
    )
    prior = {cid: (int(given), int(other), cur) for cid, given, other, cur in rows}
    kept: list[PlannedOffer] = []
    for offer in batch:
        had = prior.get(offer.customer_id)
        if had is None:
            kept.append(offer._replace(round=round_))
            continue
        given, other, currency = had
        if other or currency != offer.currency or offer.amount_minor <= given:
            covered["already_offered" if other else "already_given"] += 1
            continue
        kept.append(
            offer._replace(
                mode="automatic",
                rule=(TOP_UP + offer.rule)[:200],
                amount_minor=offer.amount_minor - given,
                claim_days=None,
                round=round_,
            )
        )
    return kept


def correction_reason(policy: Policy, cause: str | None, reason: str) -> str | None:
    """Why a follow-up corrects the earlier offer of a customer the policy now
    excludes for ``reason``, or None when it leaves that offer be (see the module's
    docstring). A cause the policy excludes excludes everyone, so it is the reason
    even where the policy named another found first (``status:cancelled``, say)."""
    if cause is not None and cause in policy.exclusions.causes:
        return f"cause:{cause}"
    return reason if reason == NO_RULE else None


def plan_corrections(
    session: Session, campaign: Campaign, policy: Policy, excluded: list[tuple[str, str]]
) -> None:
    """One correction per earlier, still active offer whose customer the amended
    incident no longer entitles: no longer affected, or excluded for a reason that
    ``correction_reason`` gave (``excluded``: customer id and that reason)."""
    session.execute(text(f"DROP TABLE IF EXISTS {GONE}"))
    session.execute(
        text(f"CREATE TEMPORARY TABLE {GONE} (customer_id VARCHAR(200), reason VARCHAR(80))")
    )
    insert_rows(session, GONE, ("customer_id", "reason"), excluded)
    open_, given = ACTIONS[policy.corrections.mode]
    action = f"CASE WHEN o.status = 'offered' THEN '{open_}' ELSE '{given}' END"
    columns = (
        "INSERT INTO campaign_corrections (campaign_id, offer_id, customer_id, reason, "
        "action, amount_minor, currency, notify, status) "
        f"SELECT :campaign, o.id, o.customer_id, {{reason}}, {action}, o.amount_minor, "
        f"o.currency, CASE WHEN {action} = 'keep' THEN :false ELSE :notify END, 'planned' "
        "FROM offers o "
    )
    active = "o.incident_id = :incident AND o.round < :round AND o.status IN " + str(ACTIVE)
    params = {
        "campaign": campaign.id,
        "incident": campaign.incident_id,
        "round": campaign.round,
        "notify": policy.corrections.notify,
        "false": False,
    }
    session.execute(
        text(
            columns.format(reason="'no_longer_affected'")
            + f"WHERE {active} AND NOT EXISTS (SELECT 1 FROM impacts m WHERE "
            "m.incident_id = :incident AND m.customer_id = o.customer_id)"
        ),
        params,
    )
    session.execute(
        text(
            columns.format(reason="g.reason")
            + f"JOIN {GONE} g ON g.customer_id = o.customer_id WHERE {active}"
        ),
        params,
    )
    session.execute(text(f"DROP TABLE {GONE}"))


def figures(session: Session, campaign: Campaign, covered: Counter[str]) -> dict[str, object]:
    """What a follow-up adds to a plan's preview: its round, top-ups, customers
    already covered, and the corrections by action with what reversals take back."""
    top_ups = session.scalar(
        select(func.count()).where(
            Offer.campaign_id == campaign.id,
            Offer.status == "planned",
            Offer.rule.startswith(TOP_UP),
        )
    )
    actions = Counter(
        {
            str(a): int(n)
            for a, n in session.execute(
                select(Correction.action, func.count())
                .where(Correction.campaign_id == campaign.id)
                .group_by(Correction.action)
            )
        }
    )
    reversed_ = session.execute(
        select(Correction.currency, func.sum(Correction.amount_minor))
        .where(Correction.campaign_id == campaign.id, Correction.action == "reverse")
        .group_by(Correction.currency)
        .order_by(Correction.currency)
    )
    return {
        "round": campaign.round,
        "top_ups": int(top_ups or 0),
        "already_covered": dict(sorted(covered.items())),
        "corrections": {a: actions[a] for a in ("keep", "close", "reverse")},
        "reversal_totals": {str(c): format_major(int(m), str(c)) for c, m in reversed_},
    }
