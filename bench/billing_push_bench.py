"""Benchmark: `billing push --sink stripe` against localstripe, beside the bare loop.

Setup (not measured): localstripe started as a process (--from-scratch), N Stripe
customers, a fresh database (SQLite file, or PostgreSQL with --database postgresql)
migrated by makegood, N customers with those billing ids and N ledger entries.
Measured in the same run, alternating:

- **bare**: the least a client can do per entry: one `invoice_items.create` per entry
  with the stripe library, nothing looked up first, nothing recorded.
- **makegood**: `billing.push.push` with the Stripe sink: per entry a locked delivery
  row, a search of the customer's items for the entry's makegood_credit_id, the
  create with its Idempotency-Key, and the commit of the answer.

    python bench/billing_push_bench.py --entries 1000
    python bench/billing_push_bench.py --entries 1000 --database postgresql

One JSON record per run goes to bench/results/billing_push.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import stripe
from sqlalchemy import create_engine, text

from makegood.adapters.stripe_billing import StripeSink
from makegood.billing.push import push
from makegood.config import BillingSettings, Settings, StripeSettings
from makegood.db import migrate
from makegood.db.engine import make_engine

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 3, 12, 12, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_localstripe(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "localstripe"), "--port", str(port), "--from-scratch"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    raise SystemExit("localstripe did not start")


def database(option: str, workdir: Path) -> tuple[str, Any]:
    if option == "postgresql":
        name = f"makegood_push_bench_{os.getpid()}"
        admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as con:
            con.execute(text(f"CREATE DATABASE {name}"))

        def drop() -> None:
            with admin.connect() as con:
                con.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

        return ADMIN.rsplit("/", 1)[0] + f"/{name}", drop
    return f"sqlite:///{workdir / 'push.db'}", lambda: None


def seed(url: str, base: str, entries: int) -> list[str]:
    """N Stripe customers, and as many makegood customers and ledger entries."""
    client = stripe.StripeClient("sk_test_bench", base_addresses={"api": base})
    billing_ids = [
        client.v1.customers.create(params={"email": f"c{i}@example.com"}).id for i in range(entries)
    ]
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as con:
        for i, billing_id in enumerate(billing_ids):
            con.execute(
                text(
                    "INSERT INTO customers (customer_id, email, first_name, locale, timezone, "
                    "country, status, plan, monthly_price_minor, currency, next_bill_date, "
                    "created_at, updated_at, billing_id) VALUES (:c, :e, 'Sam', 'en-US', "
                    "'America/New_York', 'US', 'active', 'standard', 1549, 'USD', :d, :t, :t, :b)"
                ),
                {
                    "c": f"c{i}",
                    "e": f"c{i}@example.com",
                    "d": date(2026, 4, 1),
                    "t": NOW,
                    "b": billing_id,
                },
            )
            con.execute(
                text(
                    "INSERT INTO ledger_entries (offer_id, customer_id, incident_id, kind, "
                    "amount_minor, currency, statement_date, created_at, description) VALUES "
                    "(:o, :c, 1, 'grant', 77, 'USD', :d, :t, 'Credit: bench')"
                ),
                {"o": i + 1, "c": f"c{i}", "d": date(2026, 4, 1), "t": NOW},
            )
    engine.dispose()
    return billing_ids


def bare(base: str, billing_ids: list[str]) -> float:
    client = stripe.StripeClient("sk_test_bench", base_addresses={"api": base})
    began = time.perf_counter()
    for billing_id in billing_ids:
        client.v1.invoice_items.create(
            params={"customer": billing_id, "amount": -77, "currency": "usd"}
        )
    return time.perf_counter() - began


def makegood(url: str, base: str) -> tuple[float, int]:
    settings = Settings(
        billing=BillingSettings(stripe=StripeSettings(api_key="sk_test_bench", api_base=base))
    )
    engine = make_engine(url)
    began = time.perf_counter()
    report = push(engine, StripeSink(settings), lambda: NOW, "bench", settings.billing)
    seconds = time.perf_counter() - began
    engine.dispose()
    return seconds, report.pushed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=1000)
    p.add_argument("--database", default="sqlite", help="sqlite (a scratch file) or postgresql")
    p.add_argument("--json-out", type=Path, default=Path("bench/results/billing_push.jsonl"))
    args = p.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="makegood-push-bench-"))
    server, base = start_localstripe(workdir / "localstripe.log")
    url, drop = database(args.database, workdir)
    try:
        billing_ids = seed(url, base, args.entries)
        bare_seconds = bare(base, billing_ids)
        seconds, pushed = makegood(url, base)
    finally:
        server.terminate()
        drop()
    assert pushed == args.entries, f"pushed {pushed} of {args.entries}"
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "entries": args.entries,
        "database": args.database,
        "bare_per_s": round(args.entries / bare_seconds, 1),
        "makegood_per_s": round(args.entries / seconds, 1),
        "ratio": round(bare_seconds / seconds, 3),
    }
    print(json.dumps(record, indent=2))
    if str(args.json_out):
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        with args.json_out.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
