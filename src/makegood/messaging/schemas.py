"""Outbox messages and their delivery attempts, as the API shows them."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field, computed_field

from makegood.kits.http.fields import Instant, Out
from makegood.messaging.models import DeliveryAttempt, Message


class AttemptOut(Out):
    attempt: int
    worker: str
    started_at: Instant
    finished_at: Instant
    outcome: str = Field(description="sent, retry, failed or suppressed")
    provider_code: int | None = Field(
        description="The provider's code for this try: for email, the SMTP reply code."
    )
    detail: str

    @computed_field(  # type: ignore[prop-decorator]
        description="provider_code under the name it had when email was the only channel."
    )
    @property
    def smtp_code(self) -> int | None:
        return self.provider_code


class MessageOut(Out):
    id: int
    campaign_id: int
    offer_id: int
    customer_id: str
    channel: str
    kind: str = Field(
        description="automatic_credit, claim_offer or correction_notice (a follow-up "
        "campaign's word that a link closed or a credit was reversed)"
    )
    status: str = Field(description="queued, sending, sent, retrying, failed or suppressed")
    attempts: int = Field(description="How many times delivery was tried.")
    created_at: Instant
    next_attempt_at: Instant | None
    sent_at: Instant | None
    recipient: str | None
    provider_message_id: str | None = Field(
        description="The provider's id for the message: for email, its Message-ID."
    )
    last_error: str | None

    @computed_field(  # type: ignore[prop-decorator]
        description="provider_message_id under the name it had when email was the only channel."
    )
    @property
    def smtp_message_id(self) -> str | None:
        return self.provider_message_id


class MessageDetail(MessageOut):
    delivery: list[AttemptOut] = Field(description="Every delivery attempt, oldest first.")

    @classmethod
    def of(cls, message: Message, attempts: Iterable[DeliveryAttempt]) -> MessageDetail:
        fields = {
            str(field.validation_alias or name): getattr(
                message, str(field.validation_alias or name)
            )
            for name, field in MessageOut.model_fields.items()
        }
        delivery = [AttemptOut.model_validate(a) for a in attempts]
        return cls.model_validate({**fields, "delivery": delivery})
