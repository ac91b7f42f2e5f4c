"""The demo: generate a company's data, declare both seed outages, find who was hurt,
plan and approve what each is owed under the seed policy, execute it, let some
customers claim their links, send every apology to the built-in mailbox over SMTP,
and export the credits for billing.

It drives the same use cases as the CLI, each in its own unit of work, against an
embedded SQLite file in the demo directory.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from makegood.adapters import mailbox
from makegood.billing.service import export
from makegood.campaigns.execution import execute
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.config import Settings
from makegood.core.clock import FixedClock
from makegood.core.tokens import Sealer
from makegood.credits.service import claim
from makegood.customers.service import import_customers
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.demo.synthetic import Outage, Scenario, generate
from makegood.impact.service import impacts_for, run_impact
from makegood.incidents.service import Declaration, declare
from makegood.messaging.models import Message
from makegood.messaging.rendering import Renderer
from makegood.messaging.sender import Sender
from makegood.policy.schema import Policy, parse_policy
from makegood.sources.service import add_source

ACTOR = "demo"
# The demo's own key: its claim links exist only inside this run's database.
DEMO_KEY = secrets.token_urlsafe(32)
CLAIM_SHARE = 3  # one customer in three claims their link in the demo


def seed_policy_text() -> str:
    """The seed cases' policy (5% automatic, 2% claimable for 7 days), as shipped."""
    return resources.files("makegood.demo").joinpath("netflix-2008.toml").read_text("utf-8")


def seed_policy() -> Policy:
    return parse_policy(seed_policy_text(), "netflix-2008.toml")


def _claim_some(engine: Engine, campaign_id: int, when: datetime) -> int:
    """Open some claim links, as customers would, through the claim function."""
    sealer = Sealer(DEMO_KEY)
    with UnitOfWork(engine) as uow:
        sealed = uow.session.scalars(
            select(Message.payload)
            .where(Message.campaign_id == campaign_id, Message.kind == "claim_offer")
            .order_by(Message.id)
        ).all()
    claimed = 0
    for payload in sealed[::CLAIM_SHARE]:
        with UnitOfWork(engine) as uow:
            outcome = claim(uow.session, sealer.open(payload["sealed_token"]), when)
            uow.commit()
        claimed += outcome.status == "claimed"
    return claimed


@dataclass
class DemoResult:
    directory: Path
    database_url: str
    customers: int
    incidents: list[dict[str, Any]] = field(default_factory=list)
    billing: dict[str, Any] = field(default_factory=dict)
    mail: dict[str, Any] = field(default_factory=dict)


def _deliver(engine: Engine, url: str, mailbox_dir: Path, now: datetime) -> dict[str, Any]:
    """Send every queued apology to the built-in mailbox, over real SMTP."""
    controller = mailbox.start(mailbox_dir)
    try:
        config = Settings(
            database_url=url, smtp_url=f"smtp://127.0.0.1:{controller.port}", secret_key=DEMO_KEY
        )
        sender = Sender(engine=engine, settings=config, clock=FixedClock(now), renderer=Renderer())
        counts = asyncio.run(sender.run("until_empty"))
    finally:
        controller.stop()
    return {"sent": counts.sent, "failed": counts.failed, "mailbox": str(mailbox_dir)}


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
    result.mail = _deliver(engine, url, directory / "mailbox", now)
    billing = directory / "billing.csv"
    with UnitOfWork(engine) as uow:
        exported = export(uow.session, billing, "csv", now + timedelta(days=2), ACTOR)
        uow.commit()
    exported.finish()
    result.billing = {"path": str(billing), "exported": exported.exported}
    engine.dispose()
    return result


def _walk(engine: Engine, outage: Outage, now: datetime) -> dict[str, Any]:
    with UnitOfWork(engine) as uow:
        incident = declare(
            uow.session,
            Declaration(
                services=[outage.service],
                start=outage.start,
                end=outage.end,
                title=outage.title,
                summary=outage.summary,
                summaries=dict(outage.summaries),
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
        campaign = plan(uow.session, incident.id, seed_policy(), Decimal(0), now, ACTOR)
        approve(uow.session, campaign.id, ACTOR, now)
        uow.commit()
    executed = execute(engine, campaign.id, now, ACTOR, DEMO_KEY)
    claimed = _claim_some(engine, campaign.id, now + timedelta(days=1))
    return {
        "id": incident.id,
        "title": outage.title,
        "service": outage.service,
        "campaign": campaign.id,
        "offers": campaign.preview["offers"],
        "excluded": campaign.preview["excluded"],
        "totals": campaign.preview["totals"],
        "granted": executed.granted,
        "offered": executed.offered,
        "messages": executed.messages,
        "claimed": claimed,
        "start": outage.start.isoformat(),
        "end": outage.end.isoformat(),
        "confirmed": report.confirmed,
        "possible": report.possible,
        "sample": sample,
    }
