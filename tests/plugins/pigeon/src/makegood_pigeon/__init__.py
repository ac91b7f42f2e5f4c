"""A channel that posts each letter as JSON to an HTTP endpoint (PIGEON_URL), and a
billing sink that keeps entries in a JSON ledger book file: makegood plug-ins written
against its ports only, installed as a package of their own."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from makegood.billing.ports import BillingItem, Receipt
from makegood.messaging.ports import Answer, Envelope


class PigeonChannel:
    def __init__(self, url: str) -> None:
        self.url = url

    def address(self, facts) -> str:
        return facts.email.strip()

    async def send(self, envelope: Envelope) -> Answer:
        body = json.dumps(
            {
                "key": envelope.key,
                "to": envelope.address,
                "subject": envelope.letter.subject,
                "text": envelope.letter.text,
            }
        ).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return Answer("sent", reply.headers.get("X-Pigeon-Id"), reply.status)
        except urllib.error.HTTPError as exc:
            outcome = "failed" if 400 <= exc.code < 500 else "retry"
            return Answer(outcome, None, exc.code, exc.reason)

    async def close(self) -> None:
        return None


class LedgerBook:
    name = "ledgerbook"

    def __init__(self) -> None:
        self._written: list[Path] = []

    def deliver(self, items: list[BillingItem], destination: str) -> list[Receipt]:
        # An export names its file; a push (destination "") writes to the book's own.
        path = Path(destination or os.environ["LEDGERBOOK_PATH"])
        book = json.loads(path.read_text()) if path.exists() else []
        book.extend(item.row() for item in items)
        path.write_text(json.dumps(book, indent=1))
        return [Receipt(item.credit_id, "delivered", f"page-{n}") for n, item in enumerate(items)]

    def finish(self) -> None:
        return None


def channel(settings) -> PigeonChannel:
    return PigeonChannel(os.environ["PIGEON_URL"])


def ledgerbook(settings) -> LedgerBook:
    return LedgerBook()
