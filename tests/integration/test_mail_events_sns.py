"""The mail events hook as Amazon SNS (and Mailgun, SendGrid) really call it, over real
HTTP: JSON sent as text/plain, credentials written into the endpoint URL (HTTP Basic,
the hook token as the password), and a subscription confirmation that an operator
must confirm, which the hook records in the audit log and never fetches itself."""

from __future__ import annotations

import base64
import json
import logging

import httpx
import pytest
from sqlalchemy import select

from makegood.audit.models import AuditEntry
from makegood.core.tokens import bounce_token
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.messaging.hooks import CONFIRMATION
from makegood.messaging.models import Message, Suppression
from tests.integration.test_bounces import DOMAIN, HOOK_TOKEN, config_for
from tests.support.delivery import SENT_AT, executed, send
from tests.support.server import MovableClock, served
from tests.support.world import SECRET

PATH = "/api/hooks/mail-events"
TOPIC = "arn:aws:sns:us-west-2:123456789012:makegood-feedback"
SNS_HEADERS = {
    "Content-Type": "text/plain; charset=UTF-8",
    "x-amz-sns-message-type": "Notification",
    "User-Agent": "Amazon Simple Notification Service Agent",
}
SUBSCRIBE_URL = (
    "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425dacbba2d6a7ab"
)


@pytest.fixture
def site(engine, database_url, world, sink):
    """The app served over HTTP after one campaign's emails went out: (base URL, messages)."""
    _, port = sink
    config = config_for(database_url, port)
    executed(engine, world.shipping)
    send(engine, config)
    with UnitOfWork(engine) as uow:
        messages = list(uow.session.scalars(select(Message).order_by(Message.id)))
    with served(create_app(config, MovableClock(SENT_AT))) as base:
        yield base, messages


def sns(message: dict | None = None, kind: str = "Notification", **fields: str) -> str:
    """An SNS HTTP delivery's body, as SNS writes it: JSON with the event as a string."""
    envelope = {
        "Type": kind,
        "MessageId": "6f1c2d3e-4a5b-5c6d-8e7f-90a1b2c3d4e5",
        "TopicArn": TOPIC,
        "Message": json.dumps(message) if message is not None else "You have chosen to ...",
        "Timestamp": "2026-03-13T08:01:02.345Z",
        "SignatureVersion": "1",
        "Signature": "bm90IGEgcmVhbCBzaWduYXR1cmU=",
        "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-0.pem",
        **fields,
    }
    return json.dumps(envelope, indent=2)


def ses_bounce(message: Message) -> dict:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": message.recipient, "status": "5.1.1", "action": "failed"}
            ],
        },
        "mail": {
            "source": f"bounce+{bounce_token(SECRET, message.id)}@{DOMAIN}",
            "messageId": "0100018e2f3a4b5c-1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b-000000",
        },
    }


def with_credentials(base: str, user: str, password: str) -> str:
    """The hook's URL with credentials written into it, as a provider is given it."""
    scheme, _, rest = base.partition("://")
    return f"{scheme}://{user}:{password}@{rest}{PATH}"


def test_sns_text_plain_json_with_basic_auth_in_the_url_is_taken_once(engine, site):
    base, messages = site
    gone = messages[0]
    body = sns(ses_bounce(gone))
    url = with_credentials(base, "sns", HOOK_TOKEN)
    first = httpx.post(url, content=body, headers=SNS_HEADERS)
    again = httpx.post(url, content=body, headers=SNS_HEADERS)
    assert first.status_code == 200, first.text
    assert first.json()["hard_bounce"] == 1 and first.json()["unmatched"] == 0
    assert again.status_code == 200, again.text
    assert (again.json()["hard_bounce"], again.json()["already_read"]) == (0, 1)
    with UnitOfWork(engine) as uow:
        s = uow.session
        assert s.get(Message, gone.id).status == "bounced"
        assert [m.id for m in s.scalars(select(Message).where(Message.status == "bounced"))] == [
            gone.id
        ]
        stopped = s.get(Suppression, ("email", str(gone.recipient).lower()))
        assert stopped is not None and stopped.reason.startswith("bounced (5.1.1")


def test_basic_and_bearer_take_the_token_and_nothing_else_gets_in(engine, site):
    base, messages = site
    body = sns(ses_bounce(messages[1]))
    url = base + PATH

    def post(**headers: str) -> httpx.Response:
        return httpx.post(url, content=body, headers={**SNS_HEADERS, **headers})

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    refused = [
        post(),
        post(Authorization=basic("sns", "not-the-token")),
        post(Authorization=basic("sns", HOOK_TOKEN[:-1])),
        post(Authorization=basic(HOOK_TOKEN, "")),  # the token as the user name
        post(Authorization="Basic not base64!"),
        post(Authorization=f"Token {HOOK_TOKEN}"),
    ]
    for answer in refused:
        assert answer.status_code == 401, answer.text
        challenge = answer.headers["WWW-Authenticate"]
        assert challenge.startswith('Basic realm="') and "Bearer" in challenge
        assert answer.json()["error"]["code"] == "unauthorized"
        assert "Basic" in answer.json()["error"]["message"]
    with UnitOfWork(engine) as uow:  # nothing refused was acted on
        assert uow.session.get(Message, messages[1].id).status == "sent"

    taken = post(Authorization=basic("any user name", HOOK_TOKEN))
    assert taken.status_code == 200 and taken.json()["hard_bounce"] == 1, taken.text
    bearer = post(Authorization=f"Bearer {HOOK_TOKEN}")
    assert bearer.status_code == 200 and bearer.json()["already_read"] == 1, bearer.text


def test_a_body_that_is_not_json_is_refused_whatever_its_content_type(site):
    base, _ = site
    auth = {"Authorization": f"Bearer {HOOK_TOKEN}"}
    for content_type in ("text/plain; charset=UTF-8", "application/json", None):
        headers = {**auth, **({"Content-Type": content_type} if content_type else {})}
        answer = httpx.post(base + PATH, content=b"Type=Notification&oops", headers=headers)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["field"] == "body" and error["message"].startswith("body: not JSON ("), error
    unauthenticated = httpx.post(base + PATH, content=b"not json")
    assert unauthenticated.status_code == 401  # the token is asked for before the body


def test_an_sns_subscription_confirmation_is_recorded_for_the_operator(engine, site, caplog):
    base, _ = site
    url = with_credentials(base, "sns", HOOK_TOKEN)
    confirm = {**SNS_HEADERS, "x-amz-sns-message-type": "SubscriptionConfirmation"}
    body = sns(None, "SubscriptionConfirmation", SubscribeURL=SUBSCRIBE_URL, Token="2336412f")
    with caplog.at_level(logging.WARNING, logger="makegood.messaging.hooks"):
        first = httpx.post(url, content=body, headers=confirm)
        again = httpx.post(url, content=body, headers=confirm)
    assert first.status_code == 200, first.text
    assert first.json()["subscription_confirmations"] == 1
    assert first.json()["hard_bounce"] == first.json()["complaint"] == 0
    assert again.status_code == 200 and again.json()["subscription_confirmations"] == 0

    for foreign in (
        "http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-west-2.amazonaws.com.evil.example/?Action=ConfirmSubscription",
        "https://evil.example\\@sns.us-west-2.amazonaws.com/",
        "https://amazonaws.com/",
    ):
        other = sns(None, "SubscriptionConfirmation", SubscribeURL=foreign)
        ignored = httpx.post(url, content=other, headers=confirm)
        assert ignored.status_code == 200 and ignored.json()["subscription_confirmations"] == 0

    with UnitOfWork(engine) as uow:
        entries = list(
            uow.session.scalars(select(AuditEntry).where(AuditEntry.action == CONFIRMATION))
        )
    assert [(e.object_type, e.object_id) for e in entries] == [("sns_topic", TOPIC)]
    assert entries[0].after["subscribe_url"] == SUBSCRIBE_URL
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and TOPIC in warned[0].getMessage()
    assert CONFIRMATION in warned[0].getMessage()
    assert "Token=" not in caplog.text and HOOK_TOKEN not in caplog.text
