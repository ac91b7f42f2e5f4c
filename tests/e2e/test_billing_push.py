"""`makegood billing push --sink stripe` as a process: the contract's JSON, a second
run that pushes nothing, and a push killed with SIGKILL halfway, then run again:
every credit one invoice item in Stripe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from makegood.billing.models import BillingDelivery
from makegood.credits.models import LedgerEntry
from makegood.db.uow import UnitOfWork
from tests.integration.test_billing import executed
from tests.integration.test_stripe_push import _pushed_items, _with_billing_ids
from tests.support import truth as gt
from tests.support.stripe_server import localstripe
from tests.support.world import build_world


def _env(database_url: str, base: str) -> dict[str, str]:
    return {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": database_url,
        "MAKEGOOD_NOW": gt.NOW.isoformat(),
        "MAKEGOOD_BILLING__STRIPE__API_KEY": "sk_test_makegood",
        "MAKEGOOD_BILLING__STRIPE__API_BASE": base,
    }


def _push(env: dict[str, str], *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "makegood", "--json", "billing", "push", "--sink", "stripe", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _delivered(engine) -> int:
    with UnitOfWork(engine) as uow:
        return int(
            uow.session.scalar(
                select(func.count())
                .select_from(BillingDelivery)
                .where(BillingDelivery.state == "delivered")
            )
            or 0
        )


@pytest.mark.slow
def test_a_push_killed_halfway_and_run_again_gives_each_credit_once(engine, database_url, tmp_path):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    with localstripe(tmp_path / "localstripe.log") as base:
        ids = _with_billing_ids(engine, tmp_path, base)
        env = _env(database_url, base)
        with UnitOfWork(engine) as uow:
            entries = [str(i) for i in uow.session.scalars(select(LedgerEntry.id))]
        victim = subprocess.Popen(
            [sys.executable, "-m", "makegood", "billing", "push", "--sink", "stripe"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while _delivered(engine) < 5 and victim.poll() is None:
            assert time.monotonic() < deadline, "the push never got going"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        halfway = _delivered(engine)
        assert 5 <= halfway < len(entries), "the kill came too late to mean anything"

        rest = _push(env)
        assert rest == {"pushed": len(entries) - halfway, "failed": 0, "pending": 0}
        assert _push(env) == {"pushed": 0, "failed": 0, "pending": 0}
        assert _pushed_items(base, ids) == Counter({e: 1 for e in entries})


@pytest.mark.slow
def test_the_watching_push_delivers_new_entries_until_sigterm(engine, database_url, tmp_path):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    with localstripe(tmp_path / "localstripe.log") as base:
        ids = _with_billing_ids(engine, tmp_path, base)
        with UnitOfWork(engine) as uow:
            entries = [str(i) for i in uow.session.scalars(select(LedgerEntry.id))]
        watcher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "makegood",
                "--json",
                "billing",
                "push",
                "--sink",
                "stripe",
                "--watch",
                "--every",
                "0.2",
            ],
            env=_env(database_url, base),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while _delivered(engine) < len(entries):
            assert watcher.poll() is None, watcher.stderr.read() if watcher.stderr else ""
            assert time.monotonic() < deadline, "the watching push did not deliver everything"
            time.sleep(0.1)
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=60)
        assert watcher.returncode == 0, err
        assert json.loads(out) == {"pushed": len(entries), "failed": 0, "pending": 0}
        assert _pushed_items(base, ids) == Counter({e: 1 for e in entries})
