"""The webhook billing sink: each ledger entry POSTed as JSON to the company's own
billing service, signed as the Standard Webhooks spec says (standardwebhooks.com), so
any of its libraries verifies it.

``webhook-id`` is the entry's credit_id: an entry sent again (a push that died after
the 2xx and before makegood's commit) carries the same id, which the receiver uses to
take it once. A 2xx is delivered; 408, 409, 425, 429, 5xx and a dropped connection are
tried again after a backoff, for as long as it takes (the sink is ``patient``: the
service is the company's own, and an entry waits for it rather than fail); any other
answer fails the entry with what was said.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from makegood.billing.ports import BillingItem, Receipt
from makegood.config import Settings
from makegood.core.errors import ConfigurationError

EVENT = "makegood.credit"
PASSING = frozenset({408, 409, 425, 429})


class WebhookSink:
    name = "webhook"
    # A passing refusal is tried again until a 2xx, never failed for its count.
    patient = True

    def __init__(self, settings: Settings) -> None:
        billing = settings.billing
        if not billing.webhook_url:
            raise ConfigurationError(
                "billing.webhook_url is not set (MAKEGOOD_BILLING__WEBHOOK_URL): where the "
                "webhook sink POSTs entries"
            )
        try:
            self.signer = Webhook(billing.webhook_secret.get_secret_value())
        except (EmptyWebhookSecretError, ValueError):
            raise ConfigurationError(
                "billing.webhook_secret must be a Standard Webhooks secret (whsec_ and "
                "base64), from MAKEGOOD_BILLING__WEBHOOK_SECRET or webhook_secret_file"
            ) from None
        self.url = billing.webhook_url
        self.client = httpx.Client(timeout=billing.timeout_seconds)

    def deliver(self, items: Sequence[BillingItem], destination: str) -> list[Receipt]:
        return [self.push(item) for item in items]

    def finish(self) -> None:
        self.client.close()

    def push(self, item: BillingItem) -> Receipt:
        sent_at = datetime.now(UTC)  # the receiver checks it against its own clock
        body = json.dumps(
            {
                "type": EVENT,
                "timestamp": sent_at.isoformat(),
                "data": {
                    **item.row(),
                    "amount_minor": item.amount.minor,
                    "billing_id": item.billing_id,
                },
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )
        msg_id = str(item.credit_id)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self.signer.sign(msg_id, sent_at, body),
        }
        try:
            answer = self.client.post(self.url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return Receipt(item.credit_id, "retry", detail=f"{type(exc).__name__}: {exc}"[:500])
        said = f"HTTP {answer.status_code}: {answer.text[:200]}".strip()
        if answer.is_success:
            return Receipt(item.credit_id, "delivered", reference=msg_id, detail=said)
        if answer.status_code in PASSING or answer.status_code >= 500:
            return Receipt(item.credit_id, "retry", detail=said)
        return Receipt(item.credit_id, "failed", detail=said)


def webhook_sink(settings: Settings) -> WebhookSink:
    """The ``webhook`` entry point of ``makegood.billing_sinks``."""
    return WebhookSink(settings)
