"""Retries, restarts and races never grant a second credit or queue a second message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.credits.models import LedgerEntry, Offer
from makegood.credits.service import claim
from makegood.db.uow import UnitOfWork
from makegood.messaging.models import Message
from makegood.policy.schema import parse_policy
from tests.support import truth as gt
from tests.support.files import customer, write_csv
from tests.support.ports import CHECK, IMPACT
from tests.support.world import SECRET, SEED_POLICY, build_world

NOW = gt.NOW


def count(engine, model, *where):
    with UnitOfWork(engine) as uow:
        return uow.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_fifty_threads_claiming_one_token_make_exactly_one_credit(engine, tmp_path):
    from makegood.campaigns.execution import execute
    from makegood.core.tokens import unseal

    world = build_world(engine, tmp_path / "data")
    with UnitOfWork(engine) as uow:
        campaign = plan(
            uow.session, world.streaming, parse_policy(SEED_POLICY), Decimal(0), NOW, "cx"
        )
        approve(uow.session, campaign.id, "lead", NOW)
        uow.commit()
    execute(engine, campaign.id, NOW, "ops", SECRET)
    with UnitOfWork(engine) as uow:
        message = uow.session.scalars(select(Message).limit(1)).one()
    token = unseal(message.payload["sealed_token"], SECRET)
    barrier = threading.Barrier(50)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def claimer() -> None:
        try:
            barrier.wait()
            with UnitOfWork(engine) as uow:
                outcome = claim(uow.session, token, NOW)
                uow.commit()
            outcomes.append(outcome.status)
        except BaseException as exc:
            errors.append(exc)

    engine.pool.dispose()
    threads = [threading.Thread(target=claimer) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(set(outcomes)) == ["already_claimed", "claimed"]
    assert outcomes.count("claimed") == 1
    assert count(engine, LedgerEntry) == 1
    assert count(engine, Offer, Offer.status == "claimed") == 1


def _big_campaign(engine, tmp_path, size: int) -> int:
    """`size` customers, each with an error in the window: one automatic offer each."""
    write_csv(tmp_path / "customers.csv", [customer(f"k{i:05d}") for i in range(size)])
    events = tmp_path / "events.csv"
    events.write_text(
        "customer_id,occurred_at,service,outcome,device,region\n"
        + "".join(f"k{i:05d},2026-03-10T01:00:00Z,streaming,error,tv,na\n" for i in range(size))
    )
    from makegood.customers.service import import_customers
    from makegood.impact.service import run_impact
    from makegood.incidents.service import Declaration, declare
    from makegood.sources.service import add_source

    with UnitOfWork(engine) as uow:
        import_customers(uow.session, tmp_path / "customers.csv", NOW)
        add_source(uow.session, "usage_events", str(events), NOW, "t", **CHECK)
        incident = declare(
            uow.session,
            Declaration(
                services=["streaming"], start=gt.STREAM_START, end=gt.STREAM_END, title="t"
            ),
            NOW,
            "t",
        )
        run_impact(uow.session, incident.id, NOW, "t", **IMPACT)
        policy = SEED_POLICY.replace('mode = "claim"\nclaim_days = 7', 'mode = "automatic"')
        campaign = plan(uow.session, incident.id, parse_policy(policy), Decimal(0), NOW, "cx")
        approve(uow.session, campaign.id, "lead", NOW)
        uow.commit()
        return campaign.id


def test_execute_killed_midway_and_run_again_completes_without_duplicates(
    engine, database_url, tmp_path
):
    size = 3000
    campaign_id = _big_campaign(engine, tmp_path, size)
    env = {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": database_url,
        "MAKEGOOD_NOW": NOW.isoformat(),
        "MAKEGOOD_SECRET_KEY": SECRET,
    }
    command = [
        sys.executable,
        "-m",
        "makegood",
        "--json",
        "campaigns",
        "execute",
        str(campaign_id),
        "--chunk-size",
        "20",
    ]
    victim = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 120
    granted = 0
    while time.monotonic() < deadline and victim.poll() is None:
        granted = count(engine, LedgerEntry)
        if granted >= 100:
            break
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "the executor finished before it was killed"
    partial = count(engine, LedgerEntry)
    assert 0 < partial < size
    assert count(engine, Message) == partial  # whole chunks only: a credit has its message

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert count(engine, LedgerEntry) == size
    assert count(engine, Message) == size
    assert count(engine, Offer, Offer.status == "granted") == size
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.stdout.strip() == '{"granted": 0, "offered": 0, "messages": 0}'
    assert count(engine, LedgerEntry) == size


def test_execute_leaves_the_outbox_with_fresh_statistics_on_postgresql(pg_databases, tmp_path):
    """Without them (autovacuum off, or not yet round), PostgreSQL plans the lease of
    each batch for a handful of waiting messages and scans them all instead."""
    from sqlalchemy import text

    from makegood.db.engine import make_engine
    from tests.support.delivery import executed
    from tests.support.world import build_world

    name = pg_databases.create(True)
    engine = make_engine(pg_databases.url(name))
    try:
        world = build_world(engine, tmp_path)
        executed(engine, world.shipping)
        with engine.connect() as conn:
            queued = conn.scalar(text("SELECT count(*) FROM messages"))
            counted = conn.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'messages'"))
        assert queued > 0 and counted == queued  # -1 until the table is first analysed
    finally:
        engine.dispose()
        pg_databases.drop_later(name)
