"""Webhooks in: mail providers' event feeds report bounces and complaints.

``POST /api/hooks/mail-events`` takes what Amazon SES (directly or through SNS),
SendGrid, Mailgun or Postmark post about delivered mail, authenticated by a shared
bearer token (``[bounces] hook_token``, ``MAKEGOOD_BOUNCES__HOOK_TOKEN``). Events other
than bounces and complaints (deliveries, opens, clicks) are skipped; a delivery
posted twice changes nothing the second time.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from makegood.db.uow import UnitOfWork
from makegood.kits.http.deps import Svc
from makegood.kits.http.errors import ApiError, ErrorResponse
from makegood.kits.http.hooks import REFUSALS, bearer, require_token
from makegood.messaging.feedback import report_key, take
from makegood.messaging.feedback_events import from_event
from makegood.messaging.feedback_reports import FeedbackError

router = APIRouter(prefix="/api/hooks", tags=["hooks"])

token_bearer = bearer("MailEventsToken", "MAKEGOOD_BOUNCES__HOOK_TOKEN")


class MailEventsResult(BaseModel):
    """What one delivery of events changed."""

    hard_bounce: int = Field(description="Hard bounces taken: messages marked bounced.")
    soft_bounce: int = Field(description="Soft bounces counted.")
    complaint: int = Field(description="Complaints taken: addresses opted out.")
    already_read: int = Field(description="Outcomes this same delivery brought before.")
    unmatched: int = Field(description="Outcomes naming no message makegood sent.")


def _hook_token(
    svc: Svc,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(token_bearer)],
) -> None:
    require_token(
        credentials,
        svc.settings.bounces.hook_token.get_secret_value(),
        off="the mail events hook is off: set MAKEGOOD_BOUNCES__HOOK_TOKEN (or hook_token "
        "under [bounces] in makegood.toml) and send it as 'Authorization: Bearer <token>'",
        wrong="send the mail events token as 'Authorization: Bearer <token>'",
    )


@router.post(
    "/mail-events",
    response_model=MailEventsResult,
    dependencies=[Depends(_hook_token)],
    responses={
        **REFUSALS,
        422: {
            "model": ErrorResponse,
            "description": "Not a provider's event shape; the message names the event",
        },
    },
)
def mail_events(
    payload: Annotated[dict[str, Any] | list[Any], Body()], svc: Svc
) -> MailEventsResult:
    """Receive bounce and complaint events from a mail provider's feed (one event or
    a list): a hard bounce marks the message bounced and stops mail to the address, a
    complaint stops mail and opts the customer out, a soft bounce is counted."""
    try:
        found = from_event(payload, svc.settings.bounces.prefix)
    except FeedbackError as exc:
        raise ApiError(422, "invalid_events", str(exc)) from None
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    secret = svc.settings.secret_key.get_secret_value()
    with UnitOfWork(svc.engine) as uow:
        counts = take(uow.session, found, report_key(raw), "webhook", svc.now(), secret)
        uow.commit()
    return MailEventsResult(**{name: counts[name] for name in MailEventsResult.model_fields})
