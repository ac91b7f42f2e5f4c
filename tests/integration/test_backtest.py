"""`makegood policy backtest`: a policy replayed over stored impacts gives the figures
a real plan gives, writes nothing at all, sets them beside what the ledger holds, and
compares two policies customer by customer."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from collections import Counter
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select

from makegood.audit.models import AuditEntry
from makegood.campaigns.models import Campaign
from makegood.campaigns.planning import decide_all, plan
from makegood.console import campaign_page
from makegood.credits.models import LedgerEntry, Offer
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from makegood.incidents.models import Incident
from makegood.incidents.service import Declaration, declare
from makegood.messaging.models import Message
from makegood.policy.schema import parse_policy
from tests.support import cli
from tests.support import truth as gt
from tests.support.console import as_viewer
from tests.support.delivery import executed, settings
from tests.support.world import SECRET, SEED_POLICY

COUNTED = (Campaign, Offer, LedgerEntry, Message, AuditEntry)
# The seed policy with every claim link turned into an automatic credit.
GENEROUS = SEED_POLICY.replace('mode = "claim"\nclaim_days = 7', 'mode = "automatic"')


def _rows(engine) -> dict[str, int]:
    with UnitOfWork(engine) as uow:
        return {
            model.__tablename__: int(uow.session.scalar(select(func.count()).select_from(model)))
            for model in COUNTED
        }


def _command(database_url: str, tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    """``makegood [ARGS before policy] policy backtest --policy seed.toml [ARGS after]``."""
    (tmp_path / "seed.toml").write_text(SEED_POLICY)
    (tmp_path / "generous.toml").write_text(GENEROUS)
    env = {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": database_url,
        "MAKEGOOD_SECRET_KEY": SECRET,
        "MAKEGOOD_NOW": gt.NOW.isoformat(),
    }
    globals_ = [a for a in args if a == "--json"]
    rest = [a for a in args if a != "--json"]
    return cli.run(
        [*globals_, "policy", "backtest", "--policy", "seed.toml", *rest], env=env, cwd=tmp_path
    )


def _backtest(database_url: str, tmp_path, *args: str) -> dict:
    done = _command(database_url, tmp_path, "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_backtest_gives_a_plans_figures_and_writes_nothing(engine, database_url, world, tmp_path):
    before = _rows(engine)
    found = _backtest(database_url, tmp_path)
    assert _rows(engine) == before  # no campaign, offer, ledger entry, message or audit entry
    by_incident = {row["incident_id"]: row for row in found["incidents"]}
    assert set(by_incident) == {world.shipping, world.streaming}
    for incident in (world.shipping, world.streaming):
        with UnitOfWork(engine) as uow:
            real = plan(uow.session, incident, parse_policy(SEED_POLICY), Decimal(0), gt.NOW, "cx")
            preview = dict(real.preview or {})  # not committed: rolled back at the end
        row = by_incident[incident]
        for key in ("offers", "automatic", "claim", "excluded", "held_out", "totals"):
            assert row[key] == preview[key], (incident, key, row[key], preview[key])
    totals: dict[str, Decimal] = {}
    for row in found["incidents"]:
        for currency, amount in row["totals"].items():
            totals[currency] = totals.get(currency, Decimal(0)) + Decimal(amount)
    assert {c: Decimal(a) for c, a in found["totals"].items()} == totals
    streaming = by_incident[world.streaming]
    assert streaming["claim"] > 0 and set(streaming["expected_claims"]) == {"USD"}
    assert all(v == "0.00" for v in streaming["expected_claims"]["USD"].values())  # no claims yet


def test_after_the_fact_it_sets_the_ledger_beside_the_policy(engine, database_url, world, tmp_path):
    first = _backtest(database_url, tmp_path, "--incident", str(world.shipping))
    executed(engine, world.shipping)
    after = _backtest(database_url, tmp_path, "--incident", str(world.shipping))
    [was], [now] = first["incidents"], after["incidents"]
    # Its own credits do not count against it: the same decisions as before it was paid.
    assert {k: now[k] for k in ("offers", "totals")} == {k: was[k] for k in ("offers", "totals")}
    with UnitOfWork(engine) as uow:
        granted = uow.session.scalar(
            select(func.sum(LedgerEntry.amount_minor)).where(
                LedgerEntry.incident_id == world.shipping, LedgerEntry.kind == "grant"
            )
        )
    assert Decimal(now["actual"]["grant"]["USD"]) == Decimal(granted) / 100
    assert was["actual"]["grant"] == {}


def test_two_policies_side_by_side_and_the_customers_whose_remedy_changes(
    engine, database_url, world, tmp_path
):
    found = _backtest(
        database_url,
        tmp_path,
        "--incident",
        str(world.streaming),
        "--against",
        "generous.toml",
        "--changes",
        "changed.csv",
    )
    [mine], [theirs] = found["incidents"], found["against"]["incidents"]
    assert mine["claim"] > 0 and theirs["claim"] == 0
    assert theirs["automatic"] == mine["claim"] + mine["automatic"]
    with (tmp_path / "changed.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == found["changes"]["customers"] == mine["claim"]
    assert all(
        r["policy"].startswith("claim ") and r["against"].startswith("automatic ") for r in rows
    )


def _draft_page(engine, database_url, world, sink) -> tuple[str, int]:
    """The streaming draft's console page, the shipping campaign executed before it;
    with what the shipping credits came to in USD."""
    _, port = sink
    executed(engine, world.shipping)
    with UnitOfWork(engine) as uow:
        draft = plan(
            uow.session, world.streaming, parse_policy(SEED_POLICY), Decimal(0), gt.NOW, "cx"
        )
        granted = uow.session.scalar(
            select(func.sum(LedgerEntry.amount_minor)).where(
                LedgerEntry.incident_id == world.shipping
            )
        )
        uow.commit()
    config = settings(database_url, port).model_copy(update={"base_url": "http://127.0.0.1"})
    with as_viewer(engine, config, gt.NOW) as web:
        shown = web.get(f"/console/campaigns/{draft.id}").text
    return shown[shown.index('id="backtest"') :][:2000], int(granted)


def test_a_draft_plan_shows_its_policy_replayed_over_the_last_year(
    engine, database_url, world, sink
):
    panel, granted = _draft_page(engine, database_url, world, sink)
    assert "This policy over the last 12 months" in panel
    assert "1 other incident" in panel
    # The shipping incident's credits, all automatic: the replay costs what was granted.
    assert panel.count(f"{Decimal(granted) / 100:.2f} USD") == 2


def test_a_replay_too_large_for_the_page_says_how_to_run_it(
    engine, database_url, world, sink, monkeypatch
):
    monkeypatch.setattr(campaign_page, "REPLAY_CAP", 3)
    panel, granted = _draft_page(engine, database_url, world, sink)
    assert "hurt more than 3 customers: too many to replay while this page waits" in panel
    assert re.search(r"makegood policy backtest --policy FILE --since \d{4}-\d\d-\d\d<", panel)
    assert f"{Decimal(granted) / 100:.2f} USD" not in panel


def test_since_with_incidents_replays_the_named_ones_that_started_since(
    engine, database_url, world, tmp_path
):
    both = ("--incident", str(world.shipping), "--incident", str(world.streaming))
    between = (gt.SHIP_START + timedelta(hours=1)).isoformat()  # before streaming began
    found = _backtest(database_url, tmp_path, *both, "--since", between)
    assert [row["incident_id"] for row in found["incidents"]] == [world.streaming]
    assert found["totals"] == _backtest(database_url, tmp_path, both[2], both[3])["totals"]
    after = (gt.STREAM_START + timedelta(minutes=1)).isoformat()
    none = _backtest(database_url, tmp_path, *both, "--since", after)
    assert none["incidents"] == [] and none["totals"] == {}
    # A named incident that does not exist is still an error, whatever --since says.
    done = _command(database_url, tmp_path, "--incident", "999", "--since", between)
    assert done.returncode != 0 and "no incident 999" in done.stderr


def _claim_history(engine, links: dict[str, tuple[int, int]]) -> None:
    """Claim links of an earlier incident, each carried by a letter on one channel:
    ``links`` is (issued, claimed) by channel, all to one en-US customer."""
    with UnitOfWork(engine) as uow:
        session = uow.session
        earlier = declare(
            session,
            Declaration(["streaming"], gt.NOW - timedelta(days=60), None, "earlier"),
            gt.NOW,
            "t",
        ).id
        customer = session.scalars(select(Customer.customer_id).order_by(Customer.customer_id))
        who = next(iter(customer))
        n = 0
        for channel, (issued, claimed) in links.items():
            for i in range(issued):
                n += 1
                offer = Offer(
                    campaign_id=1000 + n,
                    incident_id=earlier,
                    customer_id=who,
                    status="claimed" if i < claimed else "expired",
                    mode="claim",
                    rule="maybe",
                    amount_minor=200,
                    currency="USD",
                    claimed_at=gt.NOW - timedelta(days=50) if i < claimed else None,
                    round=n,
                )
                session.add(offer)
                session.flush()
                session.add(
                    Message(
                        campaign_id=1000 + n,
                        offer_id=offer.id,
                        customer_id=who,
                        channel=channel,
                        kind="claim_offer",
                        status="sent",
                        payload={},
                        attempts=1,
                        created_at=gt.NOW - timedelta(days=59),
                    )
                )
        uow.commit()


def test_expected_claims_follow_the_claim_rate_of_the_customers_channel(
    engine, database_url, world, tmp_path
):
    # In the one locale, email links were claimed at 75% and text messages at 20%.
    _claim_history(engine, {"email": (20, 15), "sms": (20, 4)})
    with UnitOfWork(engine) as uow:
        incident = uow.session.get(Incident, world.streaming)
        decided = decide_all(
            uow.session, incident, parse_policy(SEED_POLICY), Decimal(0), gt.NOW, Counter()
        )
        claims = {o.customer_id: o.amount_minor for o in decided if o.mode == "claim"}
        ids = sorted(claims)
        # Half are reached by text message; one on both, a group with no claim rate of
        # its own, so their locale's (19 of 40) stands in; the rest by email.
        channels = {cid: "sms" if i % 2 else "email" for i, cid in enumerate(ids)}
        channels[ids[0]] = "email,sms"
        for cid, channel in channels.items():
            uow.session.get(Customer, cid).channel = None if channel == "email" else channel
        uow.commit()
    assert len(ids) >= 3

    found = _backtest(database_url, tmp_path, "--incident", str(world.streaming))
    [row] = found["incidents"]
    rate = {"email": Decimal("0.75"), "sms": Decimal("0.2"), "email,sms": Decimal("0.475")}
    cost = sum(
        (claims[c] * rate[channels[c]]).quantize(Decimal(1), rounding=ROUND_HALF_UP) for c in ids
    )
    expected = row["expected_claims"]["USD"]
    assert Decimal(expected["expected"]) == cost / 100
    assert Decimal(expected["low"]) < Decimal(expected["expected"]) < Decimal(expected["high"])
    assert row["claims_rated_by"] == {"channel_locale": len(ids) - 1, "locale": 1, "overall": 0}
    rates = found["claim_rates"]
    assert rates["min_links"] == 20
    assert [
        (r["channel"], r["locale"], r["issued"], r["claimed"], r["rate"])
        for r in rates["by_channel_and_locale"]
    ] == [("email", "en-US", 20, 15, "0.7500"), ("sms", "en-US", 20, 4, "0.2000")]
    sms = rates["by_channel_and_locale"][1]
    assert Decimal(sms["low"]) < Decimal("0.2") < Decimal(sms["high"]) < Decimal("0.5")
    assert rates["overall"]["issued"] == 40 and rates["overall"]["claimed"] == 19

    # Everyone by text message: the same claims, expected at the lower rate.
    with UnitOfWork(engine) as uow:
        for cid in ids:
            uow.session.get(Customer, cid).channel = "sms"
        uow.commit()
    [all_sms] = _backtest(database_url, tmp_path, "--incident", str(world.streaming))["incidents"]
    low_cost = sum(
        (claims[c] * rate["sms"]).quantize(Decimal(1), rounding=ROUND_HALF_UP) for c in ids
    )
    assert Decimal(all_sms["expected_claims"]["USD"]["expected"]) == low_cost / 100 < cost / 100
    shown = _command(database_url, tmp_path, "--incident", str(world.streaming))
    assert shown.returncode == 0, shown.stderr
    assert "sms en-US: 20.0% of 20 links (95%:" in shown.stdout
    assert f"{len(ids)} at their channel and locale's rate" in shown.stdout
