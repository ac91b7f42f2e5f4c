"""Benchmark: plan + execute a campaign for N affected customers on PostgreSQL.

Setup (not measured): a fresh database with N customers and N impacts for one
incident, written by PostgreSQL itself from generate_series. Measured: `plan`
(policy decisions for every impact, offers written with COPY) and `execute`
(chunked, set-based: ledger grants or claim tokens, one message and one audit entry
per offer), each through makegood's own use cases.

    python bench/campaign_bench.py --customers 1000000 --mode automatic
    python bench/campaign_bench.py --customers 1000000 --mode claim

Target (issue 3): plan + execute for 1M affected customers within 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from makegood.campaigns.execution import execute
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.impact.models import ImpactRun
from makegood.incidents.models import Incident
from makegood.incidents.service import Declaration, declare
from makegood.policy.schema import parse_policy

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 3, 12, 12, tzinfo=UTC)
POLICY = """
name = "bench"
[[rules]]
name = "sorry"
amount = {{ percent_of_monthly_price = "{percent}" }}
mode = "{mode}"
{claim}
[exclusions]
statuses = ["cancelled"]
[limits]
minimum = "0.01"
"""
ZONES = (
    "ARRAY['America/New_York','America/Chicago','America/Los_Angeles','Europe/London',"
    "'Europe/Berlin','Asia/Tokyo','America/Sao_Paulo','Asia/Bahrain']"
)
CURRENCIES = "ARRAY['USD','USD','USD','GBP','EUR','JPY','BRL','BHD']"
PRICES = "ARRAY[1549,899,2299,1099,1399,1590,4490,3900]"


def bench_incident(session: Session, customers: int) -> Incident:
    """The benchmark's streaming incident, with an impact run on record (the impacts
    themselves are written by the caller, as fast as its database allows)."""
    incident = declare(
        session,
        Declaration(
            services=["streaming"],
            start=NOW - timedelta(days=2),
            end=NOW - timedelta(days=1),
            title="bench",
        ),
        NOW,
        "bench",
    )
    session.add(
        ImpactRun(
            incident_id=incident.id,
            ran_at=NOW,
            rules=["bench"],
            confirmed=customers,
            possible=0,
            unknown_customers=0,
            query_seconds=0,
        )
    )
    return incident


def setup(url: str, customers: int) -> int:
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers SELECT 'c' || lpad(i::text, 9, '0'), "
                "'m' || i || '@example.com', "
                f"'Sam', 'en-US', ({ZONES})[1 + i % 8], 'US', "
                "CASE WHEN i % 25 = 0 THEN 'cancelled' ELSE 'active' END, 'standard', "
                f"({PRICES})[1 + i % 8], ({CURRENCIES})[1 + i % 8], "
                "DATE '2026-03-01' + (i % 28), now(), now() "
                f"FROM generate_series(1, {customers}) i"
            )
        )
    with UnitOfWork(engine) as uow:
        incident = bench_incident(uow.session, customers)
        uow.session.execute(  # impacts are partitioned by incident on PostgreSQL
            text(
                f"CREATE TABLE impacts_{incident.id} PARTITION OF impacts "
                f"FOR VALUES IN ({incident.id})"
            )
        )
        uow.session.execute(
            text(
                f"INSERT INTO impacts SELECT {incident.id}, 'c' || lpad(i::text, 9, '0'), "
                "CASE WHEN i % 3 = 0 THEN 'possible' ELSE 'confirmed' END, 1 + i % 5, 'bench', "
                "'[]' FROM generate_series(1, " + str(customers) + ") i"
            )
        )
        uow.commit()
        incident_id = incident.id
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return incident_id


def measure(url: str, incident_id: int, mode: str, chunk: int) -> dict[str, object]:
    engine = make_engine(url)
    claim = "claim_days = 7" if mode == "claim" else ""
    policy = parse_policy(POLICY.format(percent="5", mode=mode, claim=claim))
    started = time.perf_counter()
    with UnitOfWork(engine) as uow:
        campaign = plan(uow.session, incident_id, policy, Decimal(0), NOW, "bench")
        approve(uow.session, campaign.id, "bench", NOW)
        uow.commit()
    planned = time.perf_counter()
    result = execute(engine, campaign.id, NOW, "bench", "bench-secret-key-0123456789", chunk)
    done = time.perf_counter()
    engine.dispose()
    return {
        "offers": campaign.preview["offers"],
        "excluded": campaign.preview["excluded"],
        "plan_s": round(planned - started, 2),
        "execute_s": round(done - planned, 2),
        "total_s": round(done - started, 2),
        "granted": result.granted,
        "offered": result.offered,
        "messages": result.messages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=["automatic", "claim"], default="automatic")
    parser.add_argument("--chunk-size", type=int, default=25_000)
    parser.add_argument("--json-out", type=Path, default=Path("bench/results/campaign.jsonl"))
    args = parser.parse_args()
    name = f"makegood_campaign_bench_{os.getpid()}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        t0 = time.perf_counter()
        incident_id = setup(url, args.customers)
        setup_s = time.perf_counter() - t0
        figures = measure(url, incident_id, args.mode, args.chunk_size)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "customers": args.customers,
        "mode": args.mode,
        "chunk_size": args.chunk_size,
        "setup_s": round(setup_s, 1),
        **figures,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "cpus": os.cpu_count(),
        "target_s": 60,
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    with args.json_out.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    json.dump(record, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
