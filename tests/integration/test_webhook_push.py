"""The webhook billing sink against a real local HTTP server that verifies every
Standard Webhooks signature, answers some deliveries with 500 and drops one
connection, and counts what it accepted: each entry accepted once."""

from __future__ import annotations

import base64
import threading
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from makegood.adapters.webhook_billing import WebhookSink
from makegood.billing.push import push
from makegood.config import BillingSettings, Settings
from makegood.credits.models import LedgerEntry
from makegood.db.uow import UnitOfWork
from tests.integration.test_billing import executed
from tests.support import truth as gt
from tests.support.world import build_world

SECRET = "whsec_" + base64.b64encode(b"makegood-webhook-test-secret-32b").decode()


class Receiver(ThreadingHTTPServer):
    """Verifies, then answers each id's first try by a rule: 500, a dropped
    connection, or 2xx; counts accepted deliveries and bad signatures."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.verifier = Webhook(SECRET)
        self.tries: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.bad = 0
        self.bodies: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.down_for = 0  # each id's first tries answered 503, as a service that is down


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            data = self.server.verifier.verify(body, dict(self.headers.items()))
        except WebhookVerificationError:
            with self.server.lock:
                self.server.bad += 1
            self.send_response(400)
            self.end_headers()
            return
        entry = self.headers["webhook-id"]
        with self.server.lock:
            self.server.tries[entry] += 1
            first = self.server.tries[entry] == 1
            down = self.server.tries[entry] <= self.server.down_for
        if down:
            self.send_response(503)
            self.end_headers()
            return
        if first and int(entry) % 3 == 0:
            self.send_response(500)
            self.end_headers()
            return
        if first and int(entry) % 7 == 1:
            self.connection.close()  # dropped without an answer
            return
        with self.server.lock:
            self.server.accepted[entry] += 1
            self.server.bodies[entry] = data
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_each_entry_is_accepted_once_after_500s_and_a_dropped_connection(
    engine, tmp_path, receiver
):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    url = f"http://127.0.0.1:{receiver.server_address[1]}/billing"
    settings = Settings(
        billing=BillingSettings(webhook_url=url, webhook_secret=SECRET, backoff_seconds=60)
    )
    with UnitOfWork(engine) as uow:
        entries = {str(e.id): e for e in uow.session.scalars(select(LedgerEntry))}
    clock = [gt.NOW]
    rounds = []
    while True:
        report = push(engine, WebhookSink(settings), lambda: clock[0], "finance", settings.billing)
        rounds.append((report.pushed, report.retried, report.pending))
        if report.pending == 0:
            break
        clock[0] += timedelta(hours=2)  # past every backoff
        assert len(rounds) < 5, rounds
    assert rounds[0][1] > 0 and len(rounds) >= 2  # some were refused at first
    assert receiver.bad == 0
    assert receiver.accepted == Counter({e: 1 for e in entries})
    assert sum(r[0] for r in rounds) == len(entries)
    sample = next(iter(entries.values()))
    sent = receiver.bodies[str(sample.id)]
    assert sent["type"] == "makegood.credit"
    assert sent["data"]["credit_id"] == str(sample.id)
    assert sent["data"]["amount_minor"] == sample.amount_minor
    again = push(engine, WebhookSink(settings), lambda: clock[0], "finance", settings.billing)
    assert (again.pushed, again.pending) == (0, 0)
    assert receiver.accepted == Counter({e: 1 for e in entries})


def test_a_service_down_for_longer_than_max_attempts_gets_every_entry_once_it_is_back(
    engine, tmp_path, receiver
):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    receiver.down_for = 4  # each id refused 4 times (and its %3/%7 rule after that)
    url = f"http://127.0.0.1:{receiver.server_address[1]}/billing"
    billing = BillingSettings(
        webhook_url=url, webhook_secret=SECRET, backoff_seconds=60, max_attempts=2
    )
    with UnitOfWork(engine) as uow:
        entries = [str(e.id) for e in uow.session.scalars(select(LedgerEntry))]
    clock, failed, pushed = [gt.NOW], 0, 0
    for _ in range(8):
        report = push(
            engine, WebhookSink(Settings(billing=billing)), lambda: clock[0], "f", billing
        )
        failed, pushed = failed + report.failed, pushed + report.pushed
        clock[0] += timedelta(hours=2)  # past every backoff
    assert failed == 0 and pushed == len(entries)  # 2 attempts did not fail them
    assert receiver.accepted == Counter(dict.fromkeys(entries, 1))
    assert min(receiver.tries.values()) >= 5


def test_a_missing_url_or_secret_is_named():
    from makegood.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="billing.webhook_url"):
        WebhookSink(Settings())
    with pytest.raises(ConfigurationError, match="billing.webhook_secret"):
        WebhookSink(Settings(billing=BillingSettings(webhook_url="http://127.0.0.1:9/")))
