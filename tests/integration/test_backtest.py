"""`makegood policy backtest`: a policy replayed over stored impacts gives the figures
a real plan gives, writes nothing at all, sets them beside what the ledger holds, and
compares two policies customer by customer."""

from __future__ import annotations

import csv
import json
import os
import re
from decimal import Decimal

import httpx
from sqlalchemy import func, select

from makegood.audit.models import AuditEntry
from makegood.campaigns.models import Campaign
from makegood.campaigns.planning import plan
from makegood.console.users import add_user
from makegood.credits.models import LedgerEntry, Offer
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.messaging.models import Message
from makegood.policy.schema import parse_policy
from tests.support import cli
from tests.support import truth as gt
from tests.support.delivery import executed, settings
from tests.support.server import MovableClock, served
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


def _backtest(database_url: str, tmp_path, *args: str) -> dict:
    (tmp_path / "seed.toml").write_text(SEED_POLICY)
    (tmp_path / "generous.toml").write_text(GENEROUS)
    env = {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": database_url,
        "MAKEGOOD_SECRET_KEY": SECRET,
        "MAKEGOOD_NOW": gt.NOW.isoformat(),
    }
    done = cli.run(
        ["--json", "policy", "backtest", "--policy", "seed.toml", *args], env=env, cwd=tmp_path
    )
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


def test_a_draft_plan_shows_its_policy_replayed_over_the_last_year(
    engine, database_url, world, sink
):
    _, port = sink
    executed(engine, world.shipping)
    with UnitOfWork(engine) as uow:
        draft = plan(
            uow.session, world.streaming, parse_policy(SEED_POLICY), Decimal(0), gt.NOW, "cx"
        )
        add_user(uow.session, "vic", "viewer", "a long enough password", gt.NOW, "t", "Vic")
        granted = uow.session.scalar(
            select(func.sum(LedgerEntry.amount_minor)).where(
                LedgerEntry.incident_id == world.shipping
            )
        )
        uow.commit()
    config = settings(database_url, port).model_copy(update={"base_url": "http://127.0.0.1"})
    with (
        served(create_app(config, MovableClock(gt.NOW))) as base,
        httpx.Client(base_url=base, timeout=30) as web,
    ):
        form = web.get("/console/login")
        web.post(
            "/console/login",
            data={
                "csrf": re.search(r'name="csrf" value="([^"]+)"', form.text).group(1),
                "username": "vic",
                "password": "a long enough password",
            },
        )
        shown = web.get(f"/console/campaigns/{draft.id}").text
    panel = shown[shown.index('id="backtest"') :][:2000]
    assert "This policy over the last 12 months" in panel
    assert "1 other incident" in panel
    # The shipping incident's credits, all automatic: the replay costs what was granted.
    assert panel.count(f"{Decimal(granted) / 100:.2f} USD") == 2
