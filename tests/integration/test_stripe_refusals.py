"""How the Stripe sink takes Stripe's refusals, from a real HTTP server answering as
Stripe does when it refuses: rate limits and Stripe's own errors leave the entry
pending with a backoff (after a 5xx the stripe library has asked twice more); a refusal
of the request itself fails the entry with the reason, for good."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from sqlalchemy import select, update

from makegood.adapters.stripe_billing import StripeSink
from makegood.billing.models import BillingDelivery
from makegood.billing.push import push
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from tests.integration.test_billing import executed
from tests.integration.test_stripe_push import NOW, _settings
from tests.support.world import build_world


class Refusing(BaseHTTPRequestHandler):
    """Every request answered with the status the test chose, in Stripe's error body."""

    status: ClassVar[int] = 500
    seen: ClassVar[Counter[str]] = Counter()

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        type(self).seen[self.command] += 1
        kind = "rate_limit_error" if self.status == 429 else "api_error"
        if self.status == 400:
            kind = "invalid_request_error"
        body = json.dumps({"error": {"type": kind, "message": f"refused with {self.status}"}})
        self.send_response(self.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def refusing():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Refusing, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _first_push(engine, tmp_path, base: str):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    with UnitOfWork(engine) as uow:
        uow.session.execute(update(Customer).values(billing_id="cus_refused"))
        uow.commit()
    settings = _settings(base, backoff_seconds=60)
    report = push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing, limit=1)
    with UnitOfWork(engine) as uow:
        [row] = uow.session.scalars(select(BillingDelivery).where(BillingDelivery.attempts > 0))
    return report, row


@pytest.mark.parametrize(("status", "asked"), [(429, 1), (500, 3), (503, 3)])
def test_a_rate_limit_or_stripes_own_error_is_tried_again_after_a_backoff(
    engine, tmp_path, refusing, status, asked
):
    handler, base = refusing
    handler.status, handler.seen = status, Counter()
    report, row = _first_push(engine, tmp_path, base)
    assert (report.pushed, report.failed, report.retried) == (0, 0, 1)
    assert row.state == "pending" and f"HTTP {status}" in row.reason
    assert row.next_attempt_at is not None and (row.next_attempt_at - NOW).total_seconds() == 60
    # The library asks again at once after Stripe's own errors; a rate limit waits for
    # the backoff (Stripe retries a 429 only when it says Stripe-Should-Retry).
    assert handler.seen["GET"] == asked


def test_a_refused_request_fails_the_entry_for_good(engine, tmp_path, refusing):
    handler, base = refusing
    handler.status, handler.seen = 400, Counter()
    report, row = _first_push(engine, tmp_path, base)
    assert (report.pushed, report.failed, report.retried) == (0, 1, 0)
    assert row.state == "failed" and "HTTP 400: refused with 400" in row.reason
    assert row.next_attempt_at is None and handler.seen["GET"] == 1
