"""A company with impacts already found for both seed incidents, ready to plan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from makegood.customers.service import import_customers
from makegood.db.uow import UnitOfWork
from makegood.impact.service import run_impact
from makegood.incidents.service import Declaration, declare
from makegood.policy.seed import seed_policy_text
from makegood.sources.service import add_source
from tests.support import truth as gt
from tests.support.ports import CHECK, IMPACT

SECRET = "test-secret-key-0123456789"
SEED_POLICY = seed_policy_text()


@dataclass
class World:
    truth: gt.Truth
    shipping: int
    streaming: int


def build_world(engine: Engine, directory: Path) -> World:
    t = gt.build()
    files = gt.write(t, directory, "parquet")
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, files["customers"], gt.NOW)
        add_source(uow.session, "usage_events", str(files["usage_events"]), gt.NOW, "t", **CHECK)
        add_source(uow.session, "shipments", str(files["shipments"]), gt.NOW, "t", **CHECK)
        ids = []
        for services, start, end in (
            (["shipping"], gt.SHIP_START, gt.SHIP_END),
            (["streaming"], gt.STREAM_START, gt.STREAM_END),
        ):
            incident = declare(
                uow.session,
                Declaration(services=services, start=start, end=end, title=f"{services[0]} outage"),
                gt.NOW,
                "t",
            )
            run_impact(uow.session, incident.id, gt.NOW, "t", **IMPACT)
            ids.append(incident.id)
        uow.commit()
    return World(t, ids[0], ids[1])
