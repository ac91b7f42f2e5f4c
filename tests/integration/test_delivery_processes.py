"""Senders as real processes: killed with SIGKILL mid-batch and restarted, and two at
once on PostgreSQL. The count that matters is what the SMTP server received."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from makegood.db.uow import UnitOfWork
from makegood.messaging.models import Message
from tests.support.delivery import SENT_AT, executed
from tests.support.world import SECRET


def sender(database_url: str, port: int, cwd, **delivery: object) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": database_url,
        "MAKEGOOD_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "MAKEGOOD_SECRET_KEY": SECRET,
        "MAKEGOOD_NOW": SENT_AT.isoformat(),
        **{f"MAKEGOOD_DELIVERY__{k.upper()}": str(v) for k, v in delivery.items()},
    }
    return subprocess.Popen(
        [sys.executable, "-m", "makegood", "--json", "send", "--until-empty"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def queued(engine) -> int:
    with UnitOfWork(engine) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(Message)))


def lease_holders(engine) -> set[str]:
    with UnitOfWork(engine) as uow:
        held = uow.session.scalars(select(Message.leased_by).where(Message.leased_by.is_not(None)))
        return set(held)


def test_a_sender_killed_mid_batch_and_restarted_loses_none_and_sends_none_twice(
    engine, database_url, world, sink, tmp_path
):
    handler, port = sink
    executed(engine, world.shipping)
    executed(engine, world.streaming)
    total = queued(engine)
    victim: dict[str, int] = {}
    offered = Counter[str]()
    lock = threading.Lock()

    def kill_at_the_twelfth(envelope):
        # The 12th message reaches the server, which kills the sender before it
        # answers: the sender dies with a batch leased and part of it sent.
        with lock:
            offered["n"] += 1
            if offered["n"] == 12 and "pid" in victim:
                os.kill(victim["pid"], signal.SIGKILL)
                return "451 4.3.0 Sender went away"
        return None

    handler.refuse = kill_at_the_twelfth
    first = sender(database_url, port, tmp_path, connections=1, batch_size=25, lease_seconds=1)
    victim["pid"] = first.pid
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    with UnitOfWork(engine) as uow:
        states = dict(
            uow.session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
        )
    # Mid-batch: the rest of this batch (and any read ahead) are still leased.
    assert states["sent"] == 11 and states["sending"] >= 25 - 11

    handler.refuse = lambda envelope: None
    second = sender(database_url, port, tmp_path, connections=1, batch_size=25, lease_seconds=1)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert json.loads(out)["sent"] == total - 11

    ids = handler.message_ids()
    assert len(ids) == total and set(ids.values()) == {1}
    with UnitOfWork(engine) as uow:
        assert uow.session.scalar(select(func.count()).where(Message.status != "sent")) == 0


def test_a_relay_slower_than_the_lease_gets_no_letter_twice(
    engine, database_url, world, sink, tmp_path
):
    """Batches read ahead wait their turn longer than their lease: the sender leaves
    such letters to its next lease instead of sending the stale copy as well."""
    handler, port = sink
    executed(engine, world.shipping)
    total = queued(engine)

    def slow(envelope):
        time.sleep(0.1)  # five letters a batch outlast a 0.3-second lease
        return None

    handler.refuse = slow
    proc = sender(database_url, port, tmp_path, connections=1, batch_size=5, lease_seconds=0.3)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    ids = handler.message_ids()
    assert len(ids) == total and set(ids.values()) == {1}
    assert json.loads(out)["sent"] == total
    with UnitOfWork(engine) as uow:
        assert uow.session.scalar(select(func.count()).where(Message.status != "sent")) == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_senders_at_once_share_the_outbox_and_send_each_message_once(
    engine, database_url, world, sink, tmp_path
):
    handler, port = sink
    executed(engine, world.shipping)
    executed(engine, world.streaming)
    total = queued(engine)
    both_hold_a_lease = threading.Event()

    def hold_until_both_lease(envelope):
        # Which process starts first is up to the machine: a loaded one may let the
        # first sender empty the outbox before the second has imported. So the first
        # letter waits at the server until both processes hold leased batches.
        deadline = time.monotonic() + 30
        while not both_hold_a_lease.is_set() and time.monotonic() < deadline:
            if len(lease_holders(engine)) >= 2:
                both_hold_a_lease.set()
            else:
                time.sleep(0.05)
        return None

    handler.refuse = hold_until_both_lease
    procs = [
        sender(database_url, port, tmp_path, connections=2, batch_size=4, rate_per_second=30)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))

    assert sum(r["sent"] for r in results) == total
    assert both_hold_a_lease.is_set()
    assert all(r["sent"] > 0 for r in results)  # both took batches
    ids = handler.message_ids()
    assert len(ids) == total and set(ids.values()) == {1}
