"""`makegood demo` at a small size, run as a user runs it: its figures must be what
its generator did, exactly, and the same again on a second run with the same seed."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from makegood.campaigns.planning import held_out
from makegood.core.money import currency_exponent
from makegood.credits.models import LedgerEntry, Offer
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.demo import truth
from makegood.demo.scenario import scenario
from makegood.impact.models import Impact
from tests.support.demo_port import demo_port_held

CUSTOMERS = 3_000
SEED = 11
HOLDOUT = Decimal(5)


def demo(directory: Path) -> dict[str, Any]:
    # Nothing from the developer's environment: the demo needs no settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKEGOOD_")}
    args = ["--customers", str(CUSTOMERS), "--seed", str(SEED), "--dir", str(directory)]
    proc = subprocess.run(
        [sys.executable, "-m", "makegood", "--json", "demo", *args],
        cwd=directory.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    result: dict[str, Any] = json.loads(lines[0])
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    directory = tmp_path_factory.mktemp("demo") / "makegood-demo"
    with demo_port_held():  # no --port: 8000, unless another demo has it
        first = demo(directory)
        billing = (directory / "billing.csv").read_text()
        second = demo(directory)  # the same directory: rebuilt, not added to
    return first | {"billing_csv": billing}, second | {"billing_csv": None}


@pytest.fixture(scope="module")
def people() -> list[truth.Hurt]:
    return truth.hurt(scenario(CUSTOMERS, SEED))


def offered(h: truth.Hurt, incident_id: int) -> bool:
    """Whether the seed policy gives this customer an offer (not cancelled, not held out)."""
    return h.status != "cancelled" and not held_out(incident_id, h.customer_id, HOLDOUT)


def test_affected_credited_and_claimed_counts_equal_the_generators_ground_truth(runs, people):
    run, _ = runs
    shipping, streaming = run["incidents"]
    late = [h for h in people if h.shipping]
    credited = [h for h in late if offered(h, shipping["id"])]
    assert shipping["confirmed"] == shipping["affected"] == len(late) > 0
    assert shipping["possible"] == 0
    assert shipping["excluded"] == sum(h.status == "cancelled" for h in late) > 0
    assert shipping["granted"] == shipping["credited"] == len(credited) > 0
    assert shipping["held_out"] == len(late) - shipping["excluded"] - len(credited) > 0

    hit = [h for h in people if h.streaming]
    linked = [h for h in hit if offered(h, streaming["id"])]
    claimers = [h for h in linked if h.claims and not h.late]
    latecomers = [h for h in linked if h.claims and h.late]
    assert streaming["confirmed"] == sum(h.streaming == "confirmed" for h in hit) > 0
    assert streaming["possible"] == sum(h.streaming == "possible" for h in hit) > 0
    assert streaming["offered"] == streaming["sent"] == len(linked)
    assert streaming["claimed"] == streaming["credited"] == len(claimers) > 0
    assert streaming["late_refused"] == len(latecomers) > 0
    assert run["claims"] == {
        "visitors": len(claimers) + len(latecomers),
        "late": len(latecomers),
        "claimed": len(claimers),
        "late_refused": len(latecomers),
    }
    # Each credit is the seed policy's percent of the customer's monthly price.
    assert shipping["credits_minor"] == credits(run, credited, Decimal(5))
    assert streaming["credits_minor"] == credits(run, claimers, Decimal(2))
    # The demo's own check says the same.
    for incident in run["incidents"]:
        assert incident["truth"]["credited"] == incident["credited"]


def credits(run: dict[str, Any], people: list[truth.Hurt], percent: Decimal) -> dict[str, int]:
    """Totals per currency in minor units, from the generated customers file."""
    with (Path(run["directory"]) / "data" / "customers.csv").open() as f:
        prices = {
            r["customer_id"]: (Decimal(r["monthly_price"]), r["currency"])
            for r in csv.DictReader(f)
        }
    totals: Counter[str] = Counter()
    for h in people:
        price, currency = prices[h.customer_id]
        minor = (price * percent / 100).scaleb(currency_exponent(currency))
        totals[currency] += int(minor.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return dict(totals)


def test_the_records_hold_what_the_summary_says(runs):
    run, _ = runs
    shipping, streaming = run["incidents"]
    engine = make_engine(run["database"])
    try:
        with UnitOfWork(engine) as uow:
            s = uow.session
            impacts = dict(
                s.execute(
                    select(Impact.incident_id, func.count()).group_by(Impact.incident_id)
                ).all()
            )
            claimed = s.scalar(select(func.count()).where(Offer.status == "claimed"))
            ledger = dict(
                s.execute(select(LedgerEntry.kind, func.count()).group_by(LedgerEntry.kind)).all()
            )
    finally:
        engine.dispose()
    assert impacts == {shipping["id"]: shipping["affected"], streaming["id"]: streaming["affected"]}
    assert claimed == streaming["claimed"]
    assert ledger == {"grant": shipping["granted"], "claim": streaming["claimed"]}
    rows = list(csv.DictReader(run["billing_csv"].splitlines()))
    assert len(rows) == run["billing"]["exported"] == shipping["granted"] + streaming["claimed"]
    assert run["mail"]["received"] == run["mail"]["sent"] == shipping["sent"] + streaming["sent"]


def test_a_second_run_with_the_same_seed_gives_the_same_figures(runs):
    first, second = runs
    keep = ("truth", "credits_minor", "claimed", "late_refused", "granted", "offered", "held_out")
    for a, b in zip(first["incidents"], second["incidents"], strict=True):
        assert {k: a[k] for k in keep} == {k: b[k] for k in keep}
    assert first["claims"] == second["claims"]
    assert first["billing"]["exported"] == second["billing"]["exported"]
    assert Counter(first["later"]["churn_by_group"]) == Counter(second["later"]["churn_by_group"])
