"""Correcting an incident after the apologies went out: `incidents amend`, an impact
run that finds the difference, and a follow-up campaign that covers only the newly
affected (with top-ups for larger harm) and does what the policy's [corrections]
says for customers no longer owed a credit. Nobody is mailed or credited twice."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from makegood.audit.models import AuditEntry
from makegood.campaigns.execution import execute
from makegood.campaigns.models import Campaign, Correction
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.core.errors import ConflictError
from makegood.core.tokens import unseal
from makegood.credits.models import LedgerEntry, Offer
from makegood.credits.service import claim, look
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.impact.models import Impact
from makegood.impact.service import run_impact
from makegood.incidents.service import Declaration, declare
from makegood.messaging.models import Message
from makegood.policy.schema import parse_policy
from tests.support import cli
from tests.support import truth as gt
from tests.support.delivery import send, settings
from tests.support.ports import IMPACT
from tests.support.server import MovableClock, served
from tests.support.world import SECRET

POLICY = """
name = "by the error"

[[rules]]
name = "one per error"
services = ["streaming"]
confidence = ["confirmed"]
amount = { per_day = { fixed = "1.00" }, cap = { percent_of_monthly_price = "90" } }
mode = "automatic"

[[rules]]
name = "maybe hurt"
services = ["streaming"]
confidence = ["possible"]
amount = { fixed = "2.00" }
mode = "claim"
claim_days = 7

[exclusions]
causes = ["third_party"]
"""
LATER = gt.NOW + timedelta(hours=1)
# The same, with cancelled customers excluded as well.
NO_CANCELLED = POLICY.replace("[exclusions]\n", '[exclusions]\nstatuses = ["cancelled"]\n')
ACTIVE = ("granted", "offered", "claimed")
SHORTER = gt.STREAM_START + timedelta(hours=1)


def _cli(database_url: str, tmp_path, *args: str, now=LATER) -> dict:
    env = {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": database_url,
        "MAKEGOOD_SECRET_KEY": SECRET,
        "MAKEGOOD_NOW": now.isoformat(),
    }
    done = cli.run(["--json", *args], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _run(engine, policy_text: str, incident: int, now=gt.NOW) -> int:
    with UnitOfWork(engine) as uow:
        campaign = plan(uow.session, incident, parse_policy(policy_text), Decimal(0), now, "cx")
        approve(uow.session, campaign.id, "lead", now)
        uow.commit()
    execute(engine, campaign.id, now, "ops", SECRET)
    return campaign.id


def _impacts(engine, incident: int) -> dict[str, tuple[str, int]]:
    with UnitOfWork(engine) as uow:
        rows = uow.session.execute(
            select(Impact.customer_id, Impact.confidence, Impact.magnitude).where(
                Impact.incident_id == incident
            )
        )
        return {cid: (conf, int(mag)) for cid, conf, mag in rows}


def _offers(engine, incident: int) -> list[Offer]:
    with UnitOfWork(engine) as uow:
        found = uow.session.scalars(select(Offer).where(Offer.incident_id == incident)).all()
        uow.session.expunge_all()
        return list(found)


def _credited(engine, incident: int) -> dict[str, int]:
    with UnitOfWork(engine) as uow:
        rows = uow.session.execute(
            select(LedgerEntry.customer_id, func.sum(LedgerEntry.amount_minor))
            .where(LedgerEntry.incident_id == incident)
            .group_by(LedgerEntry.customer_id)
        )
        return {cid: int(total) for cid, total in rows}


def _amend(database_url: str, tmp_path, incident: int, *change: str) -> None:
    """``incidents amend`` and the impact run that finds the difference."""
    _cli(database_url, tmp_path, "incidents", "amend", str(incident), *change)
    _cli(database_url, tmp_path, "impact", "run", str(incident))


def _follow_up(
    database_url: str, tmp_path, incident: int, mode: str, notify: bool, policy=POLICY
) -> dict:
    """The follow-up planned under ``policy`` with this ``[corrections]``: its preview."""
    (tmp_path / "policy.toml").write_text(
        policy + f'\n[corrections]\nmode = "{mode}"\nnotify = {str(notify).lower()}\n'
    )
    planned = _cli(
        database_url, tmp_path, "campaigns", "plan", str(incident), "--policy", "policy.toml"
    )
    assert planned["round"] > 0
    return planned


def _carry_out(database_url: str, tmp_path, engine, campaign: int) -> None:
    """Approve and execute, then execute once more (which must change nothing)."""
    _cli(database_url, tmp_path, "campaigns", "approve", str(campaign), "--by", "lead")
    _cli(database_url, tmp_path, "campaigns", "execute", str(campaign))
    execute(engine, campaign, LATER, "ops", SECRET)


def _corrections(engine, campaign: int) -> list[Correction]:
    with UnitOfWork(engine) as uow:
        found = uow.session.scalars(
            select(Correction).where(Correction.campaign_id == campaign)
        ).all()
        uow.session.expunge_all()
        return list(found)


def _reversals(engine, incident: int) -> Counter[int]:
    """Reversal entries on the ledger, by offer."""
    with UnitOfWork(engine) as uow:
        return Counter(
            uow.session.scalars(
                select(LedgerEntry.offer_id).where(
                    LedgerEntry.incident_id == incident, LedgerEntry.kind == "reversal"
                )
            )
        )


def _notices(engine, campaign: int) -> list[tuple[int, str]]:
    """The correction notices a campaign queued: (offer id, customer id) each."""
    with UnitOfWork(engine) as uow:
        rows = uow.session.execute(
            select(Message.offer_id, Message.customer_id).where(
                Message.campaign_id == campaign, Message.kind == "correction_notice"
            )
        )
        return sorted((int(offer), str(customer)) for offer, customer in rows)


def _claim_page(engine, database_url: str, port: int, offer_id: int) -> httpx.Response:
    """What the claim link of an offer answers now."""
    with UnitOfWork(engine) as uow:
        payload = uow.session.scalars(
            select(Message.payload).where(
                Message.offer_id == offer_id, Message.kind == "claim_offer"
            )
        ).one()
    token = unseal(payload["sealed_token"], SECRET)
    config = settings(database_url, port)
    with (
        served(create_app(config, MovableClock(LATER))) as base,
        httpx.Client(base_url=base, timeout=30) as web,
    ):
        return web.get(f"/claim/{token}")


def test_an_end_moved_later_gets_a_follow_up_for_only_the_newly_affected(
    engine, database_url, world, sink, tmp_path
):
    handler, port = sink
    with UnitOfWork(engine) as uow:
        short = declare(
            uow.session,
            Declaration(
                ["streaming"], gt.STREAM_START, gt.STREAM_START + timedelta(hours=1), "streaming"
            ),
            gt.NOW,
            "t",
        ).id
        run_impact(uow.session, short, gt.NOW, "t", **IMPACT)
        uow.commit()
    first = _run(engine, POLICY, short)
    send(engine, settings(database_url, port))
    before = _impacts(engine, short)
    paid_before = _credited(engine, short)
    letters_before = Counter(handler.recipients())

    amended = _cli(
        database_url, tmp_path, "incidents", "amend", str(short), "--end", gt.STREAM_END.isoformat()
    )
    assert amended["before"] == {"end": (gt.STREAM_START + timedelta(hours=1)).isoformat()}
    assert amended["after"] == {"end": gt.STREAM_END.isoformat()}
    ran = _cli(database_url, tmp_path, "impact", "run", str(short))
    after = _impacts(engine, short)
    added = set(after) - set(before)
    grown = {c for c in set(after) & set(before) if after[c][1] > before[c][1]}
    assert added and grown, "the longer window finds new customers and more errors"
    assert ran["changes"]["added"] == len(added)
    assert ran["changes"]["removed"] == len(set(before) - set(after))
    assert ran["changes"]["magnitude"] == sum(
        after[c][1] != before[c][1] for c in set(after) & set(before)
    )

    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    planned = _cli(
        database_url, tmp_path, "campaigns", "plan", str(short), "--policy", "policy.toml"
    )
    assert planned["round"] == 1
    follow = planned["id"]
    offers = [o for o in _offers(engine, short) if o.campaign_id == follow]
    top_ups = {o.customer_id for o in offers if o.rule.startswith("top-up: ")}
    fresh = {o.customer_id for o in offers} - top_ups
    assert fresh == added
    assert top_ups == {c for c in grown if after[c][0] == "confirmed"}
    assert planned["top_ups"] == len(top_ups) and planned["offers"] == len(offers)

    _cli(database_url, tmp_path, "campaigns", "approve", str(follow), "--by", "lead")
    done = _cli(database_url, tmp_path, "campaigns", "execute", str(follow))
    assert done["messages"] == len(fresh)
    send(engine, settings(database_url, port))
    letters = Counter(handler.recipients())
    # Nobody had a second letter; each newly affected customer had their first.
    assert max(letters.values()) == 1
    assert {r.split("@")[0] for r in letters - letters_before} == fresh
    # Each confirmed customer now holds exactly one euro/dollar per error in the whole window.
    paid = _credited(engine, short)
    for cid in top_ups:
        assert paid[cid] == after[cid][1] * 100 > paid_before[cid]
    # Running it all again changes nothing.
    execute(engine, follow, LATER, "ops", SECRET)
    assert _credited(engine, short) == paid
    with UnitOfWork(engine) as uow, pytest.raises(ConflictError, match="its offers stand"):
        plan(uow.session, short, parse_policy(POLICY), Decimal(0), LATER, "cx")
    assert {o.campaign_id for o in _offers(engine, short)} == {first, follow}

    # The report says what changed, for whom, and at what cost.
    report = _cli(database_url, tmp_path, "report", str(short), "--html", "report.html")
    assert report["campaign"]["id"] == first
    corrections = report["corrections"]
    assert corrections["amendments"][0]["after"] == {"end": gt.STREAM_END.isoformat()}
    assert corrections["changes"]["counts"]["added"] == len(added)
    (shown,) = corrections["follow_ups"]
    assert shown["campaign_id"] == follow and shown["status"] == "done"
    assert shown["new_offers"]["customers"] == len(fresh)
    assert shown["top_ups"]["customers"] == len(top_ups)
    top_up_cost = sum(paid[c] - paid_before[c] for c in top_ups)
    assert shown["top_ups"]["totals"] == {"USD": f"{Decimal(top_up_cost) / 100:.2f}"}
    page = (tmp_path / "report.html").read_text()
    assert "Follow-up campaign" in page and "Top-ups of a credit already given" in page


@pytest.mark.parametrize(
    ("mode", "notify"),
    [("keep", False), ("close_unclaimed", False), ("reverse", True)],
)
def test_a_cause_now_excluded_corrects_by_the_policys_mode(
    engine, database_url, world, sink, tmp_path, mode, notify
):
    handler, port = sink
    incident = world.streaming
    first = _run(engine, POLICY, incident)
    send(engine, settings(database_url, port))
    # One claim link is used before the correction.
    with UnitOfWork(engine) as uow:
        message = uow.session.scalars(
            select(Message).where(Message.campaign_id == first, Message.kind == "claim_offer")
        ).first()
        assert message is not None
        claim(uow.session, unseal(message.payload["sealed_token"], SECRET), gt.NOW)
        uow.commit()
    offers = {o.id: o for o in _offers(engine, incident)}
    paid_before = _credited(engine, incident)
    letters_before = Counter(handler.recipients())

    _cli(database_url, tmp_path, "incidents", "amend", str(incident), "--cause", "third_party")
    ran = _cli(database_url, tmp_path, "impact", "run", str(incident))
    assert ran["changes"] == {"added": 0, "removed": 0, "magnitude": 0, "confidence": 0}
    policy = tmp_path / "policy.toml"
    policy.write_text(
        POLICY + f'\n[corrections]\nmode = "{mode}"\nnotify = {str(notify).lower()}\n'
    )
    planned = _cli(
        database_url, tmp_path, "campaigns", "plan", str(incident), "--policy", "policy.toml"
    )
    active = [o for o in offers.values() if o.status in ("granted", "offered", "claimed")]
    given = [o for o in active if o.status in ("granted", "claimed")]
    open_ = [o for o in active if o.status == "offered"]
    expected = {
        "keep": {"keep": len(active), "close": 0, "reverse": 0},
        "close_unclaimed": {"keep": len(given), "close": len(open_), "reverse": 0},
        "reverse": {"keep": 0, "close": len(open_), "reverse": len(given)},
    }[mode]
    assert planned["offers"] == 0 and planned["corrections"] == expected
    follow = planned["id"]
    _cli(database_url, tmp_path, "campaigns", "approve", str(follow), "--by", "lead")
    done = _cli(database_url, tmp_path, "campaigns", "execute", str(follow))
    assert done["corrected"] == len(active)
    execute(engine, follow, LATER, "ops", SECRET)  # again: nothing more happens

    now = {o.id: o for o in _offers(engine, incident)}
    paid = _credited(engine, incident)
    if mode == "keep":
        assert paid == paid_before
        assert all(now[o.id].status == o.status for o in active)
    else:
        assert all(now[o.id].status == "voided" for o in open_)
        with UnitOfWork(engine) as uow:
            token = uow.session.scalars(
                select(Message.payload).where(
                    Message.offer_id == open_[0].id, Message.kind == "claim_offer"
                )
            ).one()
            view = look(uow.session, unseal(token["sealed_token"], SECRET), LATER)
            assert view is not None and view.status == "voided"
    if mode == "close_unclaimed":
        assert paid == paid_before
        assert all(now[o.id].status == o.status for o in given)
    if mode == "reverse":
        assert all(now[o.id].status == "voided" for o in given)
        assert all(total == 0 for total in paid.values())
        with UnitOfWork(engine) as uow:
            reversals = uow.session.scalar(
                select(func.count()).where(
                    LedgerEntry.incident_id == incident, LedgerEntry.kind == "reversal"
                )
            )
        assert reversals == len(given)
    with UnitOfWork(engine) as uow:
        corrections = uow.session.scalars(
            select(Correction).where(Correction.campaign_id == follow)
        ).all()
        assert {c.status for c in corrections} == {"done"}
        audited = uow.session.scalar(
            select(func.count()).where(AuditEntry.action == "incident.amended")
        )
        assert audited == 1
        notices = uow.session.scalar(
            select(func.count()).where(
                Message.campaign_id == follow, Message.kind == "correction_notice"
            )
        )
    assert notices == (len({o.customer_id for o in active}) if notify else 0)
    if notify:
        send(engine, settings(database_url, port))
        told = Counter(handler.recipients()) - letters_before
        assert set(told.values()) == {1}
        assert len(told) == len({o.customer_id for o in active})
    with UnitOfWork(engine) as uow:
        assert uow.session.get(Campaign, follow).status == "done"


def _shrunk(engine, database_url: str, tmp_path, incident: int) -> list[Offer]:
    """The incident's first campaign executed, then its end moved earlier: the
    earlier, still active offers of the customers no longer affected."""
    _run(engine, POLICY, incident)
    before = _impacts(engine, incident)
    _amend(database_url, tmp_path, incident, "--end", SHORTER.isoformat())
    gone = set(before) - set(_impacts(engine, incident))
    lost = [o for o in _offers(engine, incident) if o.customer_id in gone and o.status in ACTIVE]
    assert {o.status for o in lost} == {"granted", "offered"}, "both kinds are no longer owed"
    return lost


@pytest.mark.parametrize("mode", ["keep", "close_unclaimed", "reverse"])
def test_an_end_moved_earlier_corrects_those_no_longer_affected(
    engine, database_url, world, sink, tmp_path, mode
):
    _, port = sink
    incident = world.streaming
    lost = _shrunk(engine, database_url, tmp_path, incident)
    offers = {o.id: o for o in _offers(engine, incident)}
    paid_before = _credited(engine, incident)
    open_ = [o for o in lost if o.status == "offered"]
    given = [o for o in lost if o.status == "granted"]

    planned = _follow_up(database_url, tmp_path, incident, mode, notify=False)
    follow = planned["id"]
    assert (
        planned["corrections"]
        == {
            "keep": {"keep": len(lost), "close": 0, "reverse": 0},
            "close_unclaimed": {"keep": len(given), "close": len(open_), "reverse": 0},
            "reverse": {"keep": 0, "close": len(open_), "reverse": len(given)},
        }[mode]
    )
    assert sorted((c.offer_id, c.reason) for c in _corrections(engine, follow)) == sorted(
        (o.id, "no_longer_affected") for o in lost
    )
    _carry_out(database_url, tmp_path, engine, follow)

    now = {o.id: o for o in _offers(engine, incident)}
    paid = _credited(engine, incident)
    assert {c.status for c in _corrections(engine, follow)} == {"done"}
    assert _notices(engine, follow) == []
    touched = {"keep": [], "close_unclaimed": open_, "reverse": lost}[mode]
    assert all(now[o.id].status == "voided" for o in touched)
    # Every other earlier offer is as it was (a top-up for a larger harm is an offer
    # of its own, in the follow-up).
    kept = offers.keys() - {o.id for o in touched}
    assert all(now[i].status == offers[i].status for i in kept)
    if mode != "keep":
        page = _claim_page(engine, database_url, port, open_[0].id)
        assert page.status_code == 410 and "This offer is no longer available" in page.text
    # Exactly one reversal per credit given under `reverse`, though execute ran twice.
    reversed_ = given if mode == "reverse" else []
    assert _reversals(engine, incident) == Counter(o.id for o in reversed_)
    for offer in given:
        gone = offer.customer_id in {o.customer_id for o in reversed_}
        assert paid[offer.customer_id] == (0 if gone else paid_before[offer.customer_id])


def test_closing_unclaimed_links_tells_each_customer_once(
    engine, database_url, world, sink, tmp_path
):
    handler, port = sink
    incident = world.streaming
    lost = _shrunk(engine, database_url, tmp_path, incident)
    send(engine, settings(database_url, port))
    letters_before = Counter(handler.recipients())
    closed = [o for o in lost if o.status == "offered"]

    follow = _follow_up(database_url, tmp_path, incident, "close_unclaimed", notify=True)["id"]
    _carry_out(database_url, tmp_path, engine, follow)
    # One notice per closed link; the customers whose credit stays are not written to.
    assert _notices(engine, follow) == sorted((o.id, o.customer_id) for o in closed)
    send(engine, settings(database_url, port))
    # Of the customers written to before, only those whose link closed hear again,
    # once each (the newly affected get their first letter).
    earlier = set(letters_before)
    told = Counter(r for r in handler.recipients() if r in earlier) - letters_before
    assert told == Counter(f"{o.customer_id}@example.com" for o in closed)


def test_a_customer_who_cancelled_since_keeps_their_credit_but_not_under_a_cause(
    engine, database_url, world, sink, tmp_path
):
    with UnitOfWork(engine) as uow:
        short = declare(
            uow.session, Declaration(["streaming"], gt.STREAM_START, SHORTER, "s"), gt.NOW, "t"
        ).id
        run_impact(uow.session, short, gt.NOW, "t", **IMPACT)
        uow.commit()
    _run(engine, NO_CANCELLED, short)
    leaver = next(o for o in _offers(engine, short) if o.status == "granted")
    with UnitOfWork(engine) as uow:
        uow.session.get(Customer, leaver.customer_id).status = "cancelled"
        uow.commit()
    paid_before = _credited(engine, short)

    # The end moves later: the leaver is excluded now, for a reason of their own.
    _amend(database_url, tmp_path, short, "--end", gt.STREAM_END.isoformat())
    planned = _follow_up(database_url, tmp_path, short, "reverse", True, policy=NO_CANCELLED)
    assert planned["excluded_by_reason"]["status:cancelled"] >= 1
    _carry_out(database_url, tmp_path, engine, planned["id"])
    assert leaver.customer_id not in {c.customer_id for c in _corrections(engine, planned["id"])}
    assert {o.status for o in _offers(engine, short) if o.id == leaver.id} == {"granted"}
    assert _credited(engine, short)[leaver.customer_id] == paid_before[leaver.customer_id]
    assert leaver.id not in _reversals(engine, short)
    assert leaver.customer_id not in {c for _, c in _notices(engine, planned["id"])}

    # The cause turns out excluded: that is the incident's, and it excludes everyone.
    _amend(database_url, tmp_path, short, "--cause", "third_party")
    again = _follow_up(database_url, tmp_path, short, "reverse", True, policy=NO_CANCELLED)
    _carry_out(database_url, tmp_path, engine, again["id"])
    (corrected,) = [c for c in _corrections(engine, again["id"]) if c.offer_id == leaver.id]
    assert (corrected.reason, corrected.action) == ("cause:third_party", "reverse")
    assert _reversals(engine, short)[leaver.id] == 1
    assert _credited(engine, short)[leaver.customer_id] == 0
    assert leaver.customer_id in {c for _, c in _notices(engine, again["id"])}
