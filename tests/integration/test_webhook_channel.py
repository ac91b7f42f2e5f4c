"""The webhook channel against a real local HTTP server that verifies every Standard
Webhooks signature: apologies handed to a company's own app, each once, after 500s and
a dropped connection; an app that does not know a customer (410) stops their messages."""

from __future__ import annotations

import base64
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from makegood.channel_config import WebhookChannelSettings
from makegood.db.uow import UnitOfWork
from makegood.messaging.models import Message, Suppression
from tests.support.delivery import executed, send, settings

SECRET = "whsec_" + base64.b64encode(b"makegood-app-channel-secret-32by").decode()
GONE = "late"  # the app answers 410 for customers whose id starts so: unknown to it


class App(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.verifier = Webhook(SECRET)
        self.tries: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.bodies: dict[str, dict] = {}
        self.bad = 0
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: App

    def log_message(self, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            data = self.server.verifier.verify(body, dict(self.headers.items()))
        except WebhookVerificationError:
            with self.server.lock:
                self.server.bad += 1
            self._answer(400)
            return
        key = self.headers["webhook-id"]
        with self.server.lock:
            self.server.tries[key] += 1
            first, n = self.server.tries[key] == 1, len(self.server.tries)
        if data["data"]["customer_id"].startswith(GONE):
            self._answer(410)
        elif first and n % 3 == 0:
            self._answer(500)
        elif first and n % 5 == 0:
            self.connection.close()  # dropped without an answer
        else:
            with self.server.lock:
                self.server.accepted[key] += 1
                self.server.bodies[key] = data
            self._answer(204)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()


@pytest.fixture
def app():
    server = App()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_each_apology_reaches_the_app_once_signed_and_unknown_customers_stop(
    engine, database_url, world, sink, app
):
    _, port = sink
    executed(engine, world.shipping)
    executed(engine, world.streaming)
    config = settings(database_url, port).model_copy(
        update={
            "channels": {"email": "webhook"},
            "webhook_channel": WebhookChannelSettings(
                url=f"http://127.0.0.1:{app.server_address[1]}/makegood", secret=SECRET
            ),
        }
    )
    send(engine, config)
    with UnitOfWork(engine) as uow:
        messages = list(uow.session.scalars(select(Message)))
        stopped = list(uow.session.scalars(select(Suppression)))
    known = [m for m in messages if not m.customer_id.startswith(GONE)]
    gone = [m for m in messages if m.customer_id.startswith(GONE)]
    assert known and gone and app.bad == 0
    assert app.accepted == Counter({f"{m.campaign_id}.{m.id}": 1 for m in known})
    assert all(m.status == "sent" for m in known)
    assert all(m.status == "failed" for m in gone)
    assert {(s.channel, s.address, s.provider_code) for s in stopped} == {
        ("email", m.customer_id.lower(), 410) for m in gone
    }
    claim = next(b["data"] for b in app.bodies.values() if b["data"]["kind"] == "claim_offer")
    assert claim["claim_url"].startswith("https://video.example.com/claim/")
    assert claim["subject"] and claim["text"] and claim["html"] and claim["claim_by"]
    assert claim["amount"] and claim["currency"] == "USD"
