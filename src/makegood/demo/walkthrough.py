"""The demo: replay March 2008 at a generated subscription company.

Generate the company and import it; on the morning after each outage declare it,
find who it hurt, plan what each is owed under the seed policy, approve, execute and
send the apologies to the built-in mailbox over SMTP; let customers claim through
the real claim pages over HTTP across the claim window (some too late); export the
credits for billing; import the customers as they are two months on; write each
incident's report. Every step runs the same use cases as the CLI, each in its own
unit of work and at its own replayed instant (as ``--now`` would), against an
embedded SQLite file in the demo directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import json
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from makegood.adapters import mailbox
from makegood.billing.ports import BILLING_SINKS
from makegood.billing.service import export
from makegood.campaigns.execution import execute
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.config import Settings, WebSettings
from makegood.core.clock import FixedClock
from makegood.core.errors import InvalidInputError
from makegood.customers.reader import count_rows
from makegood.customers.service import import_customers
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.demo import claims, truth
from makegood.demo.company import COMPANY
from makegood.demo.progress import Steps
from makegood.demo.scenario import (
    BILLING_AT,
    LATER_AT,
    LATER_FILE,
    Outage,
    Scenario,
    morning_after,
    scenario,
    when,
)
from makegood.demo.server import MailboxProcess, MovableClock, served
from makegood.demo.synthetic import generate
from makegood.entrypoints.wiring import build_root
from makegood.impact.service import RunReport, run_for
from makegood.incidents.service import Declaration, declare
from makegood.kits.root import Root
from makegood.messaging.models import Message
from makegood.messaging.sender import for_root
from makegood.policy.seed import seed_policy
from makegood.reports.service import incident_report
from makegood.sources.ports import SOURCE_CHECK
from makegood.sources.service import add_source

ACTOR = "makegood demo"
APPROVER = "Dana (customer experience lead)"
MARKER = ".makegood-demo"


@dataclass(frozen=True)
class Options:
    directory: Path = Path("makegood-demo")
    customers: int = 50_000
    seed: int = 7
    holdout: Decimal = Decimal(5)
    port: int | None = None  # the claim pages' port; None: any free one
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))


@dataclass
class DemoResult:
    directory: Path
    database_url: str
    base_url: str
    customers: int
    seed: int
    holdout: Decimal
    incidents: list[dict[str, Any]] = field(default_factory=list)
    mail: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, int] = field(default_factory=dict)
    billing: dict[str, Any] = field(default_factory=dict)
    later: dict[str, Any] = field(default_factory=dict)
    finished_at: datetime = LATER_AT
    seconds: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["directory"] = str(self.directory)
        data["database"] = data.pop("database_url")
        data["holdout"] = str(self.holdout)
        data["finished_at"] = self.finished_at.isoformat()
        return data


def prepare(directory: Path) -> None:
    """Rebuild the demo directory; refuse to empty a directory the demo did not make."""
    if directory.exists():
        ours = (directory / MARKER).exists() or not any(directory.iterdir())
        if not directory.is_dir() or not ours:
            raise InvalidInputError(
                f"--dir: {directory} exists and was not made by `makegood demo`; name a new "
                "directory (the demo empties its own on every run)"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("made by `makegood demo`; emptied on every run\n")


def demo_settings(
    url: str, base_url: str, secret_key: str, smtp_url: str, mailbox_dir: Path
) -> Settings:
    return Settings(
        database_url=url,
        base_url=base_url,
        secret_key=secret_key,
        smtp_url=smtp_url,
        mailbox_dir=mailbox_dir,
        cache_dir=mailbox_dir.parent / "cache",
        company=COMPANY,
        # Every customer of the replay comes from 127.0.0.1: no per-address limit.
        web=WebSettings(claim_rate_per_minute=0),
    )


def run_demo(options: Options, steps: Steps | None = None) -> DemoResult:
    """Rebuild the demo directory from scratch and replay both seed cases in it."""
    steps = steps or Steps()
    d = options.directory.resolve()
    prepare(d)
    url = f"sqlite:///{d / 'makegood.db'}"
    base_url = f"http://127.0.0.1:{options.port or mailbox.free_port()}"
    result = DemoResult(d, url, base_url, options.customers, options.seed, options.holdout)
    engine = make_engine(url)
    (d / "mailbox").mkdir()
    sink = MailboxProcess(d / "mailbox")  # starts while the data is generated
    try:
        settings = demo_settings(url, base_url, options.secret_key, sink.url, d / "mailbox")
        _replay(
            scenario(options.customers, options.seed),
            options,
            settings,
            engine,
            steps,
            result,
            sink,
        )
    finally:
        sink.stop()
        engine.dispose()
    result.seconds = dict(steps.seconds)
    return result


def _replay(
    s: Scenario,
    options: Options,
    settings: Settings,
    engine: Engine,
    steps: Steps,
    result: DemoResult,
    sink: MailboxProcess,
) -> None:
    d = result.directory
    with steps.step(f"generate {s.customers:,} customers"):
        files = generate(s, d / "data", fmt="csv")
        people = truth.hurt(s)
    migrate.upgrade(engine)
    first = morning_after(s.shipping, "declare")
    _import(engine, files.customers, first, steps, f"{when(first)} import customers")
    with steps.step(f"{when(first)} add usage, shipments"), UnitOfWork(engine) as uow:
        check = build_root(settings, engine=engine).port(SOURCE_CHECK)
        add_source(uow.session, "usage_events", str(files.usage_events), first, ACTOR, check=check)
        add_source(uow.session, "shipments", str(files.shipments), first, ACTOR, check=check)
        uow.commit()
    sink.wait_until_ready()
    shipping = _incident(s.shipping, options, settings, engine, steps)
    streaming = _incident(s.streaming, options, settings, engine, steps)
    result.incidents = [shipping, streaming]
    result.claims = _claims(settings, engine, people, steps)
    result.mail = _mailbox(settings.mailbox_dir, engine)
    result.billing = _billing(build_root(settings, engine=engine), d / "billing.csv", steps)
    held = truth.held_out_customers(people, shipping["id"], streaming["id"], options.holdout)
    with steps.step(f"{when(LATER_AT)} customers two months on"):
        groups = truth.write_later_customers(s, held, d / "data" / LATER_FILE)
    imported = _import(
        engine, d / "data" / LATER_FILE, LATER_AT, steps, f"{when(LATER_AT)} import them"
    )
    result.later = {"at": LATER_AT.isoformat(), "file": str(d / "data" / LATER_FILE)}
    result.later |= imported | {"churn_by_group": groups}
    expected = {
        shipping["id"]: truth.expected_shipping(people, shipping["id"], options.holdout),
        streaming["id"]: truth.expected_streaming(people, streaming["id"], options.holdout),
    }
    for incident in result.incidents:
        incident |= _figures(engine, incident, LATER_AT)
        # Only the claim campaign has links to come back to too late.
        incident["late_refused"] = (
            result.claims.get("late_refused", 0) if incident["offered"] else 0
        )
        incident["truth"] = asdict(expected[incident["id"]]) | {
            "affected": expected[incident["id"]].affected
        }
    with steps.step(f"{when(LATER_AT)} write the reports"):
        for incident in result.incidents:
            report = write_report(
                result.database_url, incident["id"], LATER_AT, d / f"report-{incident['id']}.html"
            )
            incident["report"] = report["html"]
            incident["retention"] = report.get("retention")


def _import(engine: Engine, path: Path, at: datetime, steps: Steps, label: str) -> dict[str, int]:
    with steps.step(label, total=count_rows(path)) as advance, UnitOfWork(engine) as uow:
        done = import_customers(uow.session, path, at, advance)
        uow.commit()
    return {"imported": done.imported, "updated": done.updated}


def _incident(
    outage: Outage, options: Options, settings: Settings, engine: Engine, steps: Steps
) -> dict[str, Any]:
    """Declare, find who it hurt, plan, approve, execute and send, each at its time."""

    def at(step: str) -> datetime:
        return morning_after(outage, step)

    name = outage.service
    with steps.step(f"{when(at('declare'))} {name}: impact, plan"):
        incident_id, found, campaign_id, preview = _planned(outage, options, settings, engine)
    with steps.step(f"{when(at('execute'))} {name}: execute", total=preview["offers"]) as advance:
        key = settings.secret_key.get_secret_value()
        done = execute(engine, campaign_id, at("execute"), ACTOR, key, progress=advance)
    label = f"{when(at('send'))} {name}: send {done.messages:,} emails"
    with steps.step(label, total=done.messages) as advance:
        sender = for_root(
            build_root(settings, FixedClock(at("send")), engine),
            progress=lambda outcome: advance(0 if outcome == "retry" else 1),
        )
        sent = asyncio.run(sender.run("until_empty"))
    return {
        "id": incident_id,
        "title": outage.title,
        "service": outage.service,
        "start": outage.start.isoformat(),
        "end": outage.end.isoformat(),
        "declared_at": at("declare").isoformat(),
        "confirmed": found.confirmed,
        "possible": found.possible,
        "campaign": campaign_id,
        "offers": preview["offers"],
        "excluded": preview["excluded"],
        "excluded_by_reason": preview.get("excluded_by_reason", {}),
        "held_out": preview["held_out"],
        "granted": done.granted,
        "offered": done.offered,
        "messages": done.messages,
        "sent": sent.sent,
        "failed": sent.failed,
        "sent_at": at("send").isoformat(),
    }


def _planned(
    outage: Outage, options: Options, settings: Settings, engine: Engine
) -> tuple[int, RunReport, int, dict[str, Any]]:
    """The outage declared, its impacts found, a campaign planned and approved:
    (incident, impact run, campaign, the plan's preview)."""
    declaration = Declaration(
        services=[outage.service],
        start=outage.start,
        end=outage.end,
        title=outage.title,
        summary=outage.summary,
        summaries=dict(outage.summaries),
    )
    root = build_root(settings, engine=engine)
    with UnitOfWork(engine) as uow:
        incident_id = declare(uow.session, declaration, morning_after(outage, "declare"), ACTOR).id
        uow.commit()
    with UnitOfWork(engine) as uow:
        found = run_for(root, uow.session, incident_id, morning_after(outage, "impact"), ACTOR)
        uow.commit()
    with UnitOfWork(engine) as uow:
        at = morning_after(outage, "plan")
        campaign = plan(uow.session, incident_id, seed_policy(), options.holdout, at, ACTOR)
        campaign_id, preview = campaign.id, dict(campaign.preview or {})
        uow.commit()
    with UnitOfWork(engine) as uow:
        approve(uow.session, campaign_id, APPROVER, morning_after(outage, "approve"))
        uow.commit()
    return incident_id, found, campaign_id, preview


def _claims(
    settings: Settings, engine: Engine, people: list[truth.Hurt], steps: Steps
) -> dict[str, int]:
    """Customers read their letters and claim, over HTTP, at their replayed times."""
    from makegood.entrypoints.app import create_app

    with steps.step("customers read their letters"):
        found = claims.visits(settings.mailbox_dir, people)
    if not found:
        return {"visitors": 0}
    clock = MovableClock(min(v.opens_at for v in found))
    app = create_app(settings, clock=clock)
    last = max(v.confirms_at for v in found)
    label = f"{when(clock.now(), '%d %b')}–{when(last, '%d %b')} {len(found):,} customers claim"
    port = int(settings.base_url.rsplit(":", 1)[1])
    try:
        with served(app, port), steps.step(label, total=len(claims.schedule(found))) as advance:
            outcomes = claims.replay(found, clock, advance)
    finally:
        app.state.makegood.engine.dispose()
    return {"visitors": len(found), "late": sum(v.late for v in found), **dict(outcomes)}


def _mailbox(directory: Path, engine: Engine) -> dict[str, Any]:
    with UnitOfWork(engine) as uow:
        by_status = dict(
            uow.session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
        )
    return {
        "directory": str(directory),
        "received": len(mailbox.read_index(directory)),
        "sent": int(by_status.get("sent", 0)),
        "failed": int(by_status.get("failed", 0)),
    }


def _billing(root: Root, out: Path, steps: Steps) -> dict[str, Any]:
    sink = root.port(BILLING_SINKS).sink("csv")
    with steps.step(f"{when(BILLING_AT)} billing export"), UnitOfWork(root.engine) as uow:
        exported = export(uow.session, out, sink, BILLING_AT, ACTOR)
        uow.commit()
    exported.finish()
    return {"path": str(out), "exported": exported.exported, "at": BILLING_AT.isoformat()}


def _figures(engine: Engine, incident: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The incident's figures as its report counts them, and how soon it apologised."""
    with UnitOfWork(engine) as uow:
        r = incident_report(uow.session, incident["id"], now)
        first_sent = uow.session.scalar(
            select(func.min(Message.sent_at)).where(Message.campaign_id == incident["campaign"])
        )
    end = datetime.fromisoformat(incident["end"])
    return {
        "affected": r.affected["confirmed"] + r.affected["possible"],
        "claimed": r.claims.claimed,
        "claim_rate": None if r.claims.rate is None else str(r.claims.rate),
        "credited": incident["granted"] + r.claims.claimed,
        "credits_minor": {c: v.net for c, v in r.credits.items()},  # net, per currency
        "minutes_to_apology": None
        if first_sent is None
        else int((first_sent - end).total_seconds() // 60),
    }


def write_report(url: str, incident_id: int, now: datetime, path: Path) -> dict[str, Any]:
    """``makegood --json report INCIDENT --html FILE`` as of ``now``: the report's JSON,
    and the file when the report command can write HTML (``html``)."""
    from makegood.entrypoints.cli import app
    from makegood.reports.cli import report

    args = ["--database", url, "--now", now.isoformat(), "--json", "report", str(incident_id)]
    can_html = "html" in inspect.signature(report).parameters
    with contextlib.redirect_stdout(io.StringIO()) as said:
        code = app([*args, "--html", str(path)] if can_html else args, standalone_mode=False)
    if code:
        raise RuntimeError(f"makegood report {incident_id} failed: {said.getvalue()}")
    found: dict[str, Any] = json.loads(said.getvalue())
    return found | {"html": str(path) if can_html and path.exists() else None}
