"""The demo: generate a company's data, declare both seed outages, find who was hurt.

It drives the same use cases as the CLI, each in its own unit of work, against an
embedded SQLite file in the demo directory.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from makegood.customers.service import import_customers
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.demo.synthetic import Outage, Scenario, generate
from makegood.impact.service import impacts_for, run_impact
from makegood.incidents.service import Declaration, declare
from makegood.sources.service import add_source

ACTOR = "demo"


@dataclass
class DemoResult:
    directory: Path
    database_url: str
    customers: int
    incidents: list[dict[str, Any]] = field(default_factory=list)


def run_demo(directory: Path, scenario: Scenario | None = None) -> DemoResult:
    """Rebuild the demo directory from scratch and walk both seed cases."""
    s = scenario or Scenario()
    if directory.exists():
        shutil.rmtree(directory)
    files = generate(s, directory / "data", fmt="csv")
    url = f"sqlite:///{(directory / 'makegood.db').resolve()}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    now = s.streaming.end + timedelta(hours=12)
    with UnitOfWork(engine) as uow:
        imported = import_customers(uow.session, files.customers, now)
        add_source(uow.session, "usage_events", str(files.usage_events), now, ACTOR)
        add_source(uow.session, "shipments", str(files.shipments), now, ACTOR)
        uow.commit()
    result = DemoResult(directory, url, imported.imported)
    for outage in (s.shipping, s.streaming):
        result.incidents.append(_walk(engine, outage, now))
    engine.dispose()
    return result


def _walk(engine: Engine, outage: Outage, now: Any) -> dict[str, Any]:
    with UnitOfWork(engine) as uow:
        incident = declare(
            uow.session,
            Declaration(
                services=[outage.service],
                start=outage.start,
                end=outage.end,
                title=outage.title,
                summary=outage.summary,
            ),
            now,
            ACTOR,
        )
        report = run_impact(uow.session, incident.id, now, ACTOR)
        sample = [
            {
                "customer_id": i.customer_id,
                "confidence": i.confidence,
                "magnitude": i.magnitude,
                "rule": i.rule,
                "evidence": i.evidence,
            }
            for i in impacts_for(uow.session, incident.id, limit=3)
        ]
        uow.commit()
    return {
        "id": incident.id,
        "title": outage.title,
        "service": outage.service,
        "start": outage.start.isoformat(),
        "end": outage.end.isoformat(),
        "confirmed": report.confirmed,
        "possible": report.possible,
        "sample": sample,
    }
