"""The ``webhook`` channel: each message POSTed as JSON to the company's own app or push
service, signed as the Standard Webhooks spec says (standardwebhooks.com), so any of
its libraries verifies it. Set ``channels.email = "webhook"`` (or ``channels.sms``) to
hand that channel's messages to it; the message arrives rendered for the channel.

``webhook-id`` is makegood's key for the message (``campaign.message``), the same on
every try: a message sent again after a lost answer carries the same id, which the
receiver uses to show it once. A 2xx is sent; 408, 409, 425, 429, 5xx and a dropped
connection are tried again after a backoff; 404 and 410 say the app does not know the
customer, which stops messages to them on this channel; any other answer fails the
message with what was said.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from makegood.config import Settings
from makegood.core.errors import ConfigurationError
from makegood.core.money import Money
from makegood.messaging.letters import LetterFacts
from makegood.messaging.ports import Answer, Envelope

EVENT = "makegood.apology"
PASSING = frozenset({408, 409, 425, 429})
UNKNOWN_CUSTOMER = frozenset({404, 410})


class WebhookChannel:
    def __init__(self, settings: Settings) -> None:
        hook = settings.webhook_channel
        if not hook.url:
            raise ConfigurationError(
                "webhook_channel.url is not set (MAKEGOOD_WEBHOOK_CHANNEL__URL): where the "
                "webhook channel POSTs messages"
            )
        try:
            self.signer = Webhook(hook.secret.get_secret_value())
        except (EmptyWebhookSecretError, ValueError):
            raise ConfigurationError(
                "webhook_channel.secret must be a Standard Webhooks secret (whsec_ and "
                "base64), from MAKEGOOD_WEBHOOK_CHANNEL__SECRET or secret_file"
            ) from None
        self.url = hook.url
        self.client = httpx.AsyncClient(timeout=hook.timeout_seconds)

    def address(self, facts: LetterFacts) -> str:
        return facts.customer_id

    async def send(self, envelope: Envelope) -> Answer:
        sent_at = datetime.now(UTC)  # the receiver checks it against its own clock
        body = _body(envelope, sent_at)
        headers = {
            "content-type": "application/json",
            "webhook-id": envelope.key,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self.signer.sign(envelope.key, sent_at, body),
        }
        try:
            answer = await self.client.post(self.url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return Answer("retry", detail=f"{type(exc).__name__}: {exc}"[:500])
        said = f"HTTP {answer.status_code}: {answer.text[:200]}".strip()
        status = answer.status_code
        if answer.is_success:
            return Answer("sent", provider_id=envelope.key, code=status, detail=said)
        if status in PASSING or status >= 500:
            return Answer("retry", code=status, detail=said)
        if status in UNKNOWN_CUSTOMER:
            return Answer("failed", code=status, detail=said)
        return Answer("failed", detail=said)

    async def close(self) -> None:
        await self.client.aclose()


def _body(envelope: Envelope, sent_at: datetime) -> str:
    facts, letter = envelope.facts, envelope.letter
    return json.dumps(
        {
            "type": EVENT,
            "timestamp": sent_at.isoformat(),
            "data": {
                "message": envelope.key,
                "customer_id": facts.customer_id,
                "kind": facts.kind,
                "locale": letter.locale,
                "subject": letter.subject,
                "text": letter.text,
                "html": letter.html,
                "amount": Money(facts.amount_minor, facts.currency).major_text,
                "currency": facts.currency,
                "claim_url": facts.claim_url,
                "claim_by": facts.expires_at.isoformat() if facts.expires_at else None,
                "incident": facts.incident_title,
            },
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def channel(settings: Settings) -> WebhookChannel:
    """The ``webhook`` entry point of ``makegood.channels``."""
    return WebhookChannel(settings)
