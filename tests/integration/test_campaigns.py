"""The seed cases end to end in the domain: plan, approve, execute, claim, void."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from makegood.audit.models import AuditEntry
from makegood.campaigns.execution import execute
from makegood.campaigns.models import Campaign
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve, cancel
from makegood.core.errors import ConflictError, InvalidInputError
from makegood.core.tokens import hash_token, unseal
from makegood.credits.models import ClaimToken, LedgerEntry, Offer
from makegood.credits.service import balance, claim, void
from makegood.db.uow import UnitOfWork
from makegood.messaging.models import Message
from makegood.policy.schema import parse_policy
from tests.support import truth as gt
from tests.support.ports import IMPACT
from tests.support.world import SECRET, SEED_POLICY

NOW = gt.NOW


def planned(engine, incident, policy_text=SEED_POLICY, holdout="0"):
    with UnitOfWork(engine) as uow:
        campaign = plan(
            uow.session, incident, parse_policy(policy_text), Decimal(holdout), NOW, "cx"
        )
        uow.commit()
        return campaign


def approved(engine, incident, **kwargs):
    campaign = planned(engine, incident, **kwargs)
    with UnitOfWork(engine) as uow:
        approve(uow.session, campaign.id, "lead", NOW)
        uow.commit()
    return campaign


def scalar(engine, query):
    with UnitOfWork(engine) as uow:
        return uow.session.scalar(query)


def test_late_shipments_get_five_percent_automatic_credits(engine, world):
    t = world.truth
    cancelled = {c for c in t.shipping_confirmed if c.startswith("cancelled")}
    campaign = approved(engine, world.shipping)
    preview = campaign.preview
    assert preview["automatic"] == len(t.shipping_confirmed) - len(cancelled)
    assert preview["claim"] == 0
    assert preview["excluded_by_reason"] == {"status:cancelled": len(cancelled)}
    # 5% of 15.49 USD is 0.7745: 77 cents each.
    assert preview["totals"] == {"USD": f"{Decimal(77 * preview['automatic']) / 100:.2f}"}

    result = execute(engine, campaign.id, NOW, "ops", SECRET, chunk_size=7)
    assert (result.granted, result.offered, result.messages) == (
        preview["automatic"],
        0,
        preview["automatic"],
    )
    with UnitOfWork(engine) as uow:
        grants = uow.session.scalars(select(LedgerEntry)).all()
        assert {g.amount_minor for g in grants} == {77}
        assert {g.kind for g in grants} == {"grant"}
        assert {g.customer_id for g in grants} == set(t.shipping_confirmed) - cancelled
        assert all(g.statement_date.isoformat() == "2026-03-20" for g in grants)
        assert uow.session.get(Campaign, campaign.id).status == "done"
        kinds = uow.session.scalars(select(Message.kind)).all()
        assert set(kinds) == {"automatic_credit"}


def test_streaming_gets_two_percent_claim_offers_for_seven_days(engine, world):
    t = world.truth
    hurt = set(t.streaming_confirmed) | t.streaming_possible
    cancelled = {c for c in hurt if c.startswith("errcancelled")}
    campaign = approved(engine, world.streaming)
    assert campaign.preview["claim"] == len(hurt) - len(cancelled)
    assert campaign.preview["excluded"] == len(cancelled)
    result = execute(engine, campaign.id, NOW, "ops", SECRET)
    assert (result.granted, result.offered) == (0, len(hurt) - len(cancelled))
    with UnitOfWork(engine) as uow:
        offers = uow.session.scalars(select(Offer).where(Offer.campaign_id == campaign.id)).all()
        messages = uow.session.scalars(select(Message)).all()
        assert {o.status for o in offers} == {"offered"}
        assert {o.expires_at for o in offers} == {NOW + timedelta(days=7)}
        assert {o.amount_minor for o in offers} == {31}  # 2% of 15.49 = 0.3098
        assert uow.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0
        hashes = dict(uow.session.execute(select(ClaimToken.offer_id, ClaimToken.token_hash)).all())
    # The outbox carries the token sealed; the database keeps only its hash.
    assert len(hashes) == len(offers)
    for message in messages:
        token = unseal(message.payload["sealed_token"], SECRET)
        assert hashes[message.offer_id] == hash_token(token)
        assert token not in str(message.payload)


def test_claims_apply_once_before_expiry(engine, world):
    campaign = approved(engine, world.streaming)
    execute(engine, campaign.id, NOW, "ops", SECRET)
    with UnitOfWork(engine) as uow:
        first, second = uow.session.scalars(select(Message).order_by(Message.id).limit(2)).all()
    token = unseal(first.payload["sealed_token"], SECRET)
    later = NOW + timedelta(days=2)
    with UnitOfWork(engine) as uow:
        outcome = claim(uow.session, token, later)
        uow.commit()
    assert outcome.status == "claimed"
    with UnitOfWork(engine) as uow:
        again = claim(uow.session, token, later + timedelta(hours=1))
        uow.commit()
    assert (again.status, again.claimed_at) == ("already_claimed", later)
    expired_token = unseal(second.payload["sealed_token"], SECRET)
    with UnitOfWork(engine) as uow:
        assert claim(uow.session, expired_token, NOW + timedelta(days=7)).status == "expired"
        assert claim(uow.session, "no-such-token", NOW).status == "unknown"
    with UnitOfWork(engine) as uow:
        entries = uow.session.scalars(select(LedgerEntry)).all()
    assert [(e.kind, e.amount_minor, e.customer_id) for e in entries] == [
        ("claim", 31, first.customer_id)
    ]
    assert entries[0].statement_date.isoformat() == "2026-03-20"


def test_void_writes_a_reversal_and_the_balance_is_a_sum(engine, world):
    campaign = approved(engine, world.shipping)
    execute(engine, campaign.id, NOW, "ops", SECRET)
    with UnitOfWork(engine) as uow:
        offer = uow.session.scalars(select(Offer).where(Offer.status == "granted").limit(1)).one()
    with UnitOfWork(engine) as uow:
        void(uow.session, offer.id, "duplicate order", NOW, "agent")
        uow.commit()
    with UnitOfWork(engine) as uow:
        entries = uow.session.scalars(
            select(LedgerEntry).where(LedgerEntry.offer_id == offer.id).order_by(LedgerEntry.id)
        ).all()
        assert [(e.kind, e.amount_minor) for e in entries] == [("grant", 77), ("reversal", -77)]
        assert balance(uow.session, offer.customer_id) == {"USD": 0}
        with pytest.raises(ConflictError, match="is voided"):
            void(uow.session, offer.id, "again", NOW, "agent")
        actions = uow.session.scalars(select(AuditEntry.action)).all()
    assert "offer.voided" in actions and "campaign.done" in actions


def test_execution_needs_approval_and_refuses_cancelled(engine, world):
    campaign = planned(engine, world.shipping)
    with pytest.raises(ConflictError, match="needs approval"):
        execute(engine, campaign.id, NOW, "ops", SECRET)
    with UnitOfWork(engine) as uow:
        cancel(uow.session, campaign.id, NOW, "lead")
        uow.commit()
    with pytest.raises(ConflictError, match="cancelled"):
        execute(engine, campaign.id, NOW, "ops", SECRET)
    assert scalar(engine, select(func.count()).select_from(LedgerEntry)) == 0
    # A cancelled plan leaves room for a new one.
    assert planned(engine, world.shipping).id != campaign.id


def test_over_budget_needs_two_different_approvers(engine, world):
    policy = SEED_POLICY + 'budget = { USD = "1.00" }\n'
    campaign = planned(engine, world.shipping, policy_text=policy)
    assert campaign.approvals_needed == 2
    with UnitOfWork(engine) as uow:
        assert approve(uow.session, campaign.id, "ann", NOW).status == "draft"
        uow.commit()
    with UnitOfWork(engine) as uow, pytest.raises(ConflictError, match="second, different"):
        approve(uow.session, campaign.id, "ann", NOW)
    with UnitOfWork(engine) as uow:
        assert approve(uow.session, campaign.id, "bob", NOW).status == "approved"
        uow.commit()


def test_replanning_replaces_the_draft_and_holds_out_the_same_people(engine, world):
    first = planned(engine, world.streaming, holdout="30")
    with UnitOfWork(engine) as uow:
        held = set(uow.session.scalars(select(Offer.customer_id).where(Offer.status == "held_out")))
    second = planned(engine, world.streaming, holdout="30")
    with UnitOfWork(engine) as uow:
        held_again = set(
            uow.session.scalars(select(Offer.customer_id).where(Offer.status == "held_out"))
        )
        assert uow.session.scalar(select(func.count()).select_from(Campaign)) == 1
    assert second.id == first.id
    assert held == held_again and 0 < len(held) < first.preview["offers"] + len(held)
    assert second.preview["held_out"] == len(held)


def test_plan_refuses_when_a_campaign_is_already_executed(engine, world):
    campaign = approved(engine, world.shipping)
    execute(engine, campaign.id, NOW, "ops", SECRET)
    with pytest.raises(ConflictError, match="done"):
        planned(engine, world.shipping)
    with pytest.raises(InvalidInputError, match="--holdout"):
        planned(engine, world.streaming, holdout="100")


def test_second_execute_adds_nothing(engine, world):
    campaign = approved(engine, world.streaming)
    execute(engine, campaign.id, NOW, "ops", SECRET)
    again = execute(engine, campaign.id, NOW, "ops", SECRET)
    assert (again.granted, again.offered, again.messages) == (0, 0, 0)
    assert scalar(engine, select(func.count()).select_from(Message)) == campaign.preview["claim"]


def test_limits_and_exclusions_see_credits_already_granted(engine, world):
    """A second, overlapping shipping incident for the same customers: the statement
    cap counts the first credit, and the overlap exclusion removes them."""
    from makegood.impact.service import run_impact
    from makegood.incidents.service import Declaration, declare

    first = approved(engine, world.shipping)
    execute(engine, first.id, NOW, "ops", SECRET)
    with UnitOfWork(engine) as uow:
        again = declare(
            uow.session,
            Declaration(
                services=["shipping"], start=gt.SHIP_START, end=gt.SHIP_END, title="aftershock"
            ),
            NOW,
            "t",
        )
        run_impact(uow.session, again.id, NOW, "t", **IMPACT)
        uow.commit()
    # 6% of 15.49 is 0.9294: 92 cents of room on the statement, 77 already used.
    capped = planned(engine, again.id, SEED_POLICY + 'max_percent_per_statement = "6"\n')
    assert set(capped.preview["totals"]) == {"USD"}
    with UnitOfWork(engine) as uow:
        amounts = set(
            uow.session.scalars(select(Offer.amount_minor).where(Offer.campaign_id == capped.id))
        )
    assert amounts == {15}
    with UnitOfWork(engine) as uow:
        cancel(uow.session, capped.id, NOW, "lead")
        uow.commit()
    policy = SEED_POLICY.replace(
        'statuses = ["cancelled"]', 'statuses = ["cancelled"]\ncompensated_within_days = 30'
    )
    excluded = planned(engine, again.id, policy)
    assert excluded.preview["offers"] == 0
    assert (
        excluded.preview["excluded_by_reason"]["already_compensated"] == first.preview["automatic"]
    )
    window = SEED_POLICY + 'window_days = 30\nmax_percent_per_window = "5"\n'
    assert (
        planned(engine, again.id, window).preview["excluded_by_reason"]["cap_reached"]
        == (first.preview["automatic"])
    )


def test_re_planning_a_draft_clears_its_approvals(engine, world):
    """An approval is of one plan: the first of two approvals does not carry over to a
    re-planned (perhaps larger) draft."""
    from decimal import Decimal

    from makegood.campaigns.planning import plan
    from makegood.campaigns.service import approve, approvers
    from makegood.db.uow import UnitOfWork
    from makegood.policy.schema import parse_policy
    from tests.support import truth as gt
    from tests.support.world import SEED_POLICY

    tight = SEED_POLICY + 'budget = { USD = "1.00" }\n'
    with UnitOfWork(engine) as uow:
        campaign = plan(uow.session, world.shipping, parse_policy(tight), Decimal(0), gt.NOW, "cx")
        assert campaign.approvals_needed == 2
        approve(uow.session, campaign.id, "ana", gt.NOW)
        uow.commit()
    with UnitOfWork(engine) as uow:
        again = plan(uow.session, world.shipping, parse_policy(tight), Decimal(0), gt.NOW, "cx")
        assert again.id == campaign.id
        assert approvers(uow.session, again.id) == []
        approve(uow.session, again.id, "ben", gt.NOW)
        assert again.status == "draft"  # one approval of the new plan is not enough
        uow.commit()
