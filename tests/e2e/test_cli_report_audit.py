"""`makegood report` and `makegood audit`, run as a user would, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from makegood.billing.service import export_pending
from makegood.core.tokens import Sealer
from makegood.credits.service import claim
from makegood.db.uow import UnitOfWork
from makegood.messaging.models import Message
from tests.support import cli
from tests.support import truth as gt
from tests.support.delivery import executed
from tests.support.world import SECRET, build_world


def makegood(
    *args: str, db: str, json_output: bool = True, now: datetime = gt.NOW
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAKEGOOD_DATABASE_URL": db, "MAKEGOOD_NOW": now.isoformat()}
    flags = ["--json"] if json_output else []
    return cli.run([*flags, *args], env=env, timeout=120)


def one_object(proc: subprocess.CompletedProcess[str]) -> dict:
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"--json must print one object: {proc.stdout!r} {proc.stderr!r}"
    return json.loads(lines[0])


def test_report_counts_the_incident_from_impact_to_credits(engine, database_url, tmp_path):
    world = build_world(engine, tmp_path / "data")
    t = world.truth
    executed(engine, world.shipping)
    cancelled = [c for c in t.shipping_confirmed if c.startswith("cancelled")]
    granted = len(t.shipping_confirmed) - len(cancelled)

    proc = makegood("report", str(world.shipping), db=database_url)
    assert proc.returncode == 0, proc.stderr
    report = one_object(proc)
    assert report["incident"]["id"] == world.shipping
    assert report["affected"]["confirmed"] == len(t.shipping_confirmed)
    assert report["excluded"] == {
        "total": len(cancelled),
        "by_reason": {"status:cancelled": len(cancelled)},
    }
    assert report["offers"] == {"automatic": {"granted": granted}}
    assert report["messages"]["queued"] == granted
    assert report["claims"] == {"offered": 0, "claimed": 0, "rate": None}
    total = f"{Decimal('0.77') * granted:.2f}"
    assert report["credits"]["USD"] == {
        "granted": total,
        "claimed": "0.00",
        "reversed": "0.00",
        "net": total,
    }

    assert one_object(makegood("report", str(world.streaming), db=database_url))["campaign"] is None

    human = makegood("report", str(world.shipping), db=database_url, json_output=False)
    assert human.returncode == 0 and f"Incident {world.shipping}" in human.stdout
    assert "automatic offers: granted" in human.stdout

    missing = makegood("report", "999", db=database_url)
    assert missing.returncode == 1
    assert one_object(missing)["error"]["kind"] == "not_found"


def test_audit_lists_recent_changes_with_before_and_after(engine, database_url, tmp_path):
    world = build_world(engine, tmp_path / "data")
    executed(engine, world.shipping)
    later = gt.NOW + timedelta(days=1)
    with UnitOfWork(engine) as uow:
        export_pending(uow.session, later, "finance", "csv", "billing.csv")
        uow.commit()

    entries = one_object(makegood("audit", "--limit", "3", db=database_url))["entries"]
    assert len(entries) == 3
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)  # oldest first
    assert entries[-1]["action"] == "billing.exported" and entries[-1]["actor"] == "finance"

    since = one_object(makegood("audit", "--since", later.isoformat(), db=database_url))
    assert [e["action"] for e in since["entries"]] == ["billing.exported"]

    approved = one_object(makegood("audit", "--action", "campaign.approved", db=database_url))
    (entry,) = approved["entries"]
    assert entry["actor"] == "lead"
    assert entry["before"] == {"status": "draft", "approvers": []}
    assert entry["after"] == {"status": "approved", "approvers": ["lead"]}

    imported = one_object(makegood("audit", "--action", "customers.imported", db=database_url))
    assert imported["entries"][0]["after"]["imported"] == len(world.truth.customers)

    bad = makegood("audit", "--since", "yesterday", db=database_url)
    assert bad.returncode == 1 and "--since" in one_object(bad)["error"]["message"]

    human = makegood("audit", "--limit", "2", db=database_url, json_output=False)
    assert human.returncode == 0 and "billing.exported" in human.stdout


def test_report_counts_claims_and_expired_links(engine, database_url, tmp_path):
    world = build_world(engine, tmp_path / "data")
    campaign = executed(engine, world.streaming)
    with UnitOfWork(engine) as uow:
        sealed = uow.session.scalars(
            select(Message.payload).where(Message.campaign_id == campaign).order_by(Message.id)
        ).all()
    with UnitOfWork(engine) as uow:
        token = Sealer(SECRET).open(sealed[0]["sealed_token"])
        assert claim(uow.session, token, gt.NOW + timedelta(hours=1)).status == "claimed"
        uow.commit()
    links = len(sealed)

    during = one_object(makegood("report", str(world.streaming), db=database_url))
    assert during["offers"] == {"claim": {"claimed": 1, "offered": links - 1}}
    assert during["claims"]["offered"] == links and during["claims"]["claimed"] == 1
    assert during["claims"]["rate"] == f"{Decimal(1) / Decimal(links):.4f}"

    after = gt.NOW + timedelta(days=8)  # the links were good for 7 days
    ended = one_object(makegood("report", str(world.streaming), db=database_url, now=after))
    assert ended["offers"] == {"claim": {"claimed": 1, "expired": links - 1}}
    assert ended["as_of"] == after.isoformat()
    assert ended["claims"]["rate"] == during["claims"]["rate"]
    assert ended["credits"]["USD"]["claimed"] == ended["credits"]["USD"]["net"] != "0.00"
