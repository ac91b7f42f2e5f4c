"""Webhooks in: mail providers' event feeds report bounces and complaints.

``POST /api/hooks/mail-events`` takes what Amazon SES (directly or through SNS),
SendGrid, Mailgun or Postmark post about delivered mail, authenticated by a shared
token (``[bounces] hook_token``, ``MAKEGOOD_BOUNCES__HOOK_TOKEN``): sent as
``Authorization: Bearer <token>``, or as the password of HTTP Basic credentials (any
user name), which is what a provider sends when they are written into the hook's URL
(``https://user:TOKEN@host/api/hooks/mail-events``). The body is read as JSON whatever
its Content-Type says (SNS sends ``text/plain``). Events other than bounces and
complaints (deliveries, opens, clicks) are skipped; a delivery posted twice changes
nothing the second time. An SNS subscription confirmation is not fetched from here:
its SubscribeURL goes to the audit log for an operator to open.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from makegood.audit.models import AuditEntry
from makegood.audit.service import record
from makegood.db.uow import UnitOfWork
from makegood.kits.http.deps import Svc
from makegood.kits.http.errors import ApiError, ErrorResponse
from makegood.kits.http.hooks import REFUSALS, bearer, require_token
from makegood.messaging.feedback import report_key, take
from makegood.messaging.feedback_events import SnsConfirmation, from_event, sns_confirmations
from makegood.messaging.feedback_reports import FeedbackError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/hooks", tags=["hooks"])

REALM = "makegood mail events"
# Basic first: a provider that only reads the first challenge still sees it.
CHALLENGE = f'Basic realm="{REALM}", Bearer realm="{REALM}"'
CONFIRMATION = "mail_events.subscription_confirmation"


class BasicInUrl(HTTPBasic):
    """HTTP Basic credentials, as a provider sends those written into the hook's URL.
    Never refuses by itself (not even a malformed header): the token check does, with
    its own message and challenge."""

    async def __call__(  # type: ignore[override]
        self, request: HTTPConnection
    ) -> HTTPBasicCredentials | None:
        scheme, param = get_authorization_scheme_param(request.headers.get("Authorization"))
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(param, validate=True).decode()
        except ValueError:  # not base64, or not UTF-8
            return None
        user, colon, password = decoded.partition(":")
        return HTTPBasicCredentials(username=user, password=password) if colon else None


token_bearer = bearer("MailEventsToken", "MAKEGOOD_BOUNCES__HOOK_TOKEN")
token_basic = BasicInUrl(
    auto_error=False,
    scheme_name="MailEventsBasic",
    realm=REALM,
    description="HTTP Basic with the token in MAKEGOOD_BOUNCES__HOOK_TOKEN as the password "
    "(any user name), e.g. written into the URL: https://sns:TOKEN@host/api/hooks/mail-events",
)


class MailEventsResult(BaseModel):
    """What one delivery of events changed."""

    hard_bounce: int = Field(description="Hard bounces taken: messages marked bounced.")
    soft_bounce: int = Field(description="Soft bounces counted.")
    complaint: int = Field(description="Complaints taken: addresses opted out.")
    already_read: int = Field(description="Outcomes this same delivery brought before.")
    unmatched: int = Field(description="Outcomes naming no message makegood sent.")
    subscription_confirmations: int = Field(
        default=0,
        description="Amazon SNS subscription confirmations newly recorded in the audit "
        f"log ({CONFIRMATION}) for an operator to confirm.",
    )


def _hook_token(
    svc: Svc,
    bearer_: Annotated[HTTPAuthorizationCredentials | None, Depends(token_bearer)],
    basic: Annotated[HTTPBasicCredentials | None, Depends(token_basic)],
) -> None:
    """503 while no token is configured; 401 with a Basic and a Bearer challenge unless
    the request carries the token either way."""
    require_token(
        bearer_.credentials if bearer_ else basic.password if basic else None,
        svc.settings.bounces.hook_token.get_secret_value(),
        off="the mail events hook is off: set MAKEGOOD_BOUNCES__HOOK_TOKEN (or hook_token "
        "under [bounces] in makegood.toml) and send it as 'Authorization: Bearer <token>' "
        "or as the password of HTTP Basic credentials",
        wrong="send the mail events token as 'Authorization: Bearer <token>', or as the "
        "password of HTTP Basic credentials (https://user:<token>@host/...)",
        challenge=CHALLENGE,
    )


async def _json_body(request: Request) -> object:
    """The body as JSON, whatever its Content-Type says."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError as exc:  # not JSON, or not in a Unicode encoding
        raise ApiError(
            422,
            "invalid_input",
            f"body: not JSON ({exc}); the mail events hook takes a JSON object or list "
            "of events, whatever the Content-Type",
            "body",
        ) from None


EVENTS_SCHEMA = {
    "anyOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
    "description": "One provider event, a list of them, or an Amazon SNS message.",
}


@router.post(
    "/mail-events",
    response_model=MailEventsResult,
    dependencies=[Depends(_hook_token)],
    responses={
        **REFUSALS,
        422: {
            "model": ErrorResponse,
            "description": "Not JSON, or not a provider's event shape; the message names the event",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": EVENTS_SCHEMA},
                "text/plain": {"schema": {"type": "string", "description": "JSON, as SNS sends"}},
            },
        }
    },
)
def mail_events(payload: Annotated[object, Depends(_json_body)], svc: Svc) -> MailEventsResult:
    """Receive bounce and complaint events from a mail provider's feed (one event or
    a list): a hard bounce marks the message bounced and stops mail to the address, a
    complaint stops mail and opts the customer out, a soft bounce is counted. An
    Amazon SNS subscription confirmation is recorded in the audit log, with its
    SubscribeURL, for an operator to confirm."""
    try:
        found = from_event(payload, svc.settings.bounces.prefix)
    except FeedbackError as exc:
        raise ApiError(422, "invalid_events", str(exc)) from None
    confirmations = sns_confirmations(payload)
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    secret = svc.settings.secret_key.get_secret_value()
    with UnitOfWork(svc.engine) as uow:
        counts = take(uow.session, found, report_key(raw), "webhook", svc.now(), secret)
        recorded = [c for c in confirmations if _to_confirm(uow.session, c, svc.now())]
        uow.commit()
    for confirmation in recorded:
        _tell_the_operator(confirmation)
    return MailEventsResult(
        hard_bounce=counts["hard_bounce"],
        soft_bounce=counts["soft_bounce"],
        complaint=counts["complaint"],
        already_read=counts["already_read"],
        unmatched=counts["unmatched"],
        subscription_confirmations=len(recorded),
    )


def _to_confirm(session: Session, confirmation: SnsConfirmation, now: datetime) -> bool:
    """Put the SubscribeURL in the audit log; False when the same URL was recorded
    before (SNS repeats a confirmation it had no answer to)."""
    topic = _topic(confirmation)
    kept = session.scalars(
        select(AuditEntry.after).where(
            AuditEntry.action == CONFIRMATION, AuditEntry.object_id == topic
        )
    ).all()
    if any((after or {}).get("subscribe_url") == confirmation.subscribe_url for after in kept):
        return False
    record(
        session,
        at=now,
        actor="amazon-sns",
        action=CONFIRMATION,
        object_type="sns_topic",
        object_id=topic,
        after={
            "subscribe_url": confirmation.subscribe_url,
            "topic_arn": confirmation.topic_arn,
            "message_id": confirmation.message_id,
        },
    )
    return True


def _topic(confirmation: SnsConfirmation) -> str:
    return confirmation.topic_arn[:200] or "(no TopicArn)"


def _tell_the_operator(confirmation: SnsConfirmation) -> None:
    """A warning naming the topic, without the URL: its token confirms the subscription."""
    log.warning(
        "Amazon SNS topic %r asks to confirm its subscription to the mail events hook; "
        "until confirmed it sends no events. Its SubscribeURL is in the audit log "
        "(makegood audit --action %s): open it once (docs/deliverability.md)",
        _topic(confirmation),
        CONFIRMATION,
    )
