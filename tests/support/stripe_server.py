"""localstripe, a stateful Stripe server, as a real process on a free port.

It keeps its whole state in one fixed file in the temp directory and reads it at start
unless told not to: every server here starts with ``--from-scratch``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import stripe

SERVER = Path(sys.executable).parent / "localstripe"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def localstripe(log: Path) -> Iterator[str]:
    """The base address of a fresh localstripe while the block runs."""
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(SERVER), "--port", str(port), "--from-scratch"], stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    assert server.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "localstripe did not start"
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(10)


def client(base: str) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_makegood", base_addresses={"api": base})


def items_of(api: stripe.StripeClient, customer: str) -> list[dict[str, Any]]:
    """The customer's invoice items as plain dicts."""
    listed = api.v1.invoice_items.list(params={"customer": customer, "limit": 100})
    return [item.to_dict() for item in listed.auto_paging_iter()]


def bill_now(api: stripe.StripeClient, customer: str) -> str:
    """Put the customer's pending items on an invoice, as Stripe does at the start of a
    billing period: subscribe them (with a test card) to a monthly plan. Returns the
    id of the invoice that took the items."""
    product = api.v1.products.create(params={"name": "Streaming"})
    plan = api.v1.plans.create(
        params={"product": product.id, "amount": 999, "currency": "usd", "interval": "month"}
    )
    card = api.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {
                "number": "4242424242424242",
                "exp_month": 12,
                "exp_year": 2030,
                "cvc": "123",
            },
        }
    )
    api.v1.payment_methods.attach(card.id, params={"customer": customer})
    api.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    api.v1.subscriptions.create(params={"customer": customer, "items": [{"plan": plan.id}]})
    invoices = api.v1.invoices.list(params={"customer": customer}).data
    return str(max(invoices, key=lambda i: i.created).id)
