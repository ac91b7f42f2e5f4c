"""Outbox messages and their delivery attempts, as the API shows them."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from makegood.kits.http.fields import Instant, Out
from makegood.messaging.models import DeliveryAttempt, Message


class AttemptOut(Out):
    attempt: int
    worker: str
    started_at: Instant
    finished_at: Instant
    outcome: str = Field(description="sent, retry, failed or suppressed")
    smtp_code: int | None
    detail: str


class MessageOut(Out):
    id: int
    campaign_id: int
    offer_id: int
    customer_id: str
    channel: str
    kind: str = Field(description="automatic_credit or claim_offer")
    status: str = Field(description="queued, sending, sent, retrying, failed or suppressed")
    attempts: int = Field(description="How many times delivery was tried.")
    created_at: Instant
    next_attempt_at: Instant | None
    sent_at: Instant | None
    recipient: str | None
    smtp_message_id: str | None
    last_error: str | None


class MessageDetail(MessageOut):
    delivery: list[AttemptOut] = Field(description="Every delivery attempt, oldest first.")

    @classmethod
    def of(cls, message: Message, attempts: Iterable[DeliveryAttempt]) -> MessageDetail:
        fields = {name: getattr(message, name) for name in MessageOut.model_fields}
        return cls(**fields, delivery=[AttemptOut.model_validate(a) for a in attempts])
