"""Billing export: every ledger entry leaves exactly once; sums always agree."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from makegood.billing.service import export
from makegood.campaigns.execution import execute
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.core.money import to_minor_units
from makegood.core.tokens import unseal
from makegood.credits.models import LedgerEntry, Offer
from makegood.credits.service import claim, void
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.messaging.models import Message
from makegood.policy.schema import parse_policy
from tests.support import truth as gt
from tests.support.ports import sink
from tests.support.world import SECRET, SEED_POLICY, build_world

NOW = gt.NOW


def executed(engine, world) -> dict[int, str]:
    """Execute both seed campaigns; returns claim tokens by offer id."""
    for incident in (world.shipping, world.streaming):
        with UnitOfWork(engine) as uow:
            campaign = plan(uow.session, incident, parse_policy(SEED_POLICY), Decimal(0), NOW, "cx")
            approve(uow.session, campaign.id, "lead", NOW)
            uow.commit()
        execute(engine, campaign.id, NOW, "ops", SECRET)
    with UnitOfWork(engine) as uow:
        return {
            m.offer_id: unseal(m.payload["sealed_token"], SECRET)
            for m in uow.session.scalars(select(Message).where(Message.kind == "claim_offer"))
        }


def run_export(engine, out: Path, fmt: str = "csv", batch: int | None = None):
    with UnitOfWork(engine) as uow:
        result = export(uow.session, out, sink(fmt), NOW, "finance", batch)
        uow.commit()
    result.finish()
    return result


def read(path: Path) -> list[dict[str, str]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_each_entry_is_exported_once_and_batches_can_be_rewritten(engine, tmp_path):
    world = build_world(engine, tmp_path / "data")
    tokens = executed(engine, world)
    first = run_export(engine, tmp_path / "b1.csv")
    rows = read(tmp_path / "b1.csv")
    cancelled = {c for c in world.truth.shipping_confirmed if c.startswith("cancelled")}
    assert first.exported == len(rows) == len(world.truth.shipping_confirmed) - len(cancelled)
    assert list(rows[0]) == [
        "credit_id",
        "customer_id",
        "amount",
        "currency",
        "statement_date",
        "incident_id",
        "description",
    ]
    assert {r["amount"] for r in rows} == {"0.77"}
    assert run_export(engine, tmp_path / "b2.csv").exported == 0
    assert read(tmp_path / "b2.csv") == []

    token = next(iter(tokens.values()))
    with UnitOfWork(engine) as uow:
        claim(uow.session, token, NOW)
        granted = uow.session.scalars(select(Offer.id).where(Offer.status == "granted")).first()
        void(uow.session, granted, "goodwill reversed", NOW, "agent")
        uow.commit()
    third = run_export(engine, tmp_path / "b3.jsonl", "jsonl")
    rows3 = read(tmp_path / "b3.jsonl")
    assert sorted(r["amount"] for r in rows3) == ["-0.77", "0.31"]
    assert any(r["description"].startswith("Reversal: goodwill") for r in rows3)

    again = run_export(engine, tmp_path / "again.csv", batch=first.batch_id)
    assert again.exported == first.exported
    assert read(tmp_path / "again.csv") == rows
    assert third.batch_id != first.batch_id


def test_an_uncommitted_export_leaves_no_batch_and_no_file(engine, tmp_path):
    world = build_world(engine, tmp_path / "data")
    executed(engine, world)
    with UnitOfWork(engine) as uow:
        export(uow.session, tmp_path / "lost.csv", sink("csv"), NOW, "finance")
        # no commit: as if the process died here
    assert not (tmp_path / "lost.csv").exists()
    assert run_export(engine, tmp_path / "real.csv").exported > 0


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict[int, str], list[int]]:
    """An SQLite database with both seed campaigns executed, copied per example."""
    directory = tmp_path_factory.mktemp("template")
    engine = make_engine(f"sqlite:///{directory / 'template.db'}")
    migrate.upgrade(engine)
    tokens = executed(engine, build_world(engine, directory / "data"))
    with UnitOfWork(engine) as uow:
        offers = list(uow.session.scalars(select(Offer.id).order_by(Offer.id)))
    engine.dispose()
    return directory / "template.db", tokens, offers


OPS = st.lists(
    st.tuples(
        st.sampled_from(["claim", "void", "export"]), st.integers(min_value=0, max_value=999)
    ),
    max_size=25,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_exported_rows_always_sum_to_the_ledger_balance(template, tmp_path_factory, ops):
    source, tokens, offers = template
    directory = tmp_path_factory.mktemp("example")
    shutil.copy(source, directory / "db.sqlite")
    engine = make_engine(f"sqlite:///{directory / 'db.sqlite'}")
    token_list = list(tokens.values())
    files = []
    for n, (op, pick) in enumerate(ops):
        with UnitOfWork(engine) as uow:
            if op == "claim":
                claim(uow.session, token_list[pick % len(token_list)], NOW)
            elif op == "void":
                offer = uow.session.get(Offer, offers[pick % len(offers)])
                if offer.status in ("granted", "offered", "claimed"):
                    void(uow.session, offer.id, "test", NOW, "t")
            else:
                result = export(uow.session, directory / f"e{n}.csv", sink("csv"), NOW, "t")
                files.append(result)
            uow.commit()
        if op == "export":
            files[-1].finish()
    with UnitOfWork(engine) as uow:
        final = export(uow.session, directory / "final.csv", sink("csv"), NOW, "t")
        uow.commit()
        final.finish()
        ledger = Counter(
            {
                c: int(s)
                for c, s in uow.session.execute(
                    select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor)).group_by(
                        LedgerEntry.currency
                    )
                ).all()
            }
        )
        entries = uow.session.scalar(select(func.count()).select_from(LedgerEntry))
    exported: Counter[str] = Counter()
    ids: list[str] = []
    for result in [*files, final]:
        for row in read(result.path):
            exported[row["currency"]] += to_minor_units(Decimal(row["amount"]), row["currency"])
            ids.append(row["credit_id"])
    assert len(ids) == len(set(ids)) == entries
    for currency in set(exported) | set(ledger):
        assert exported[currency] == ledger[currency]
    assert all(v >= 0 for v in ledger.values())  # reversals never exceed what was credited
    engine.dispose()
