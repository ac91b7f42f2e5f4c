"""One-click unsubscribe (RFC 8058) over real HTTP: every apology carries the headers,
a GET changes nothing, a cookie-less POST unsubscribes at once, and a later campaign
mails the customer nothing but still credits them."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from makegood.audit.models import AuditEntry
from makegood.campaigns.models import Campaign
from makegood.campaigns.preview import reach
from makegood.core.tokens import bounce_token, unsubscribe_token
from makegood.credits.models import LedgerEntry
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.messaging.feedback import take
from makegood.messaging.feedback_reports import Feedback
from makegood.messaging.models import Message, Suppression
from makegood.reports.service import incident_report
from tests.support.delivery import SECRET, SENT_AT, executed, send, settings
from tests.support.server import MovableClock, served

BASE = "https://video.example.com"


@pytest.fixture
def served_app(engine, database_url, sink):
    _, port = sink
    config = settings(database_url, port)
    with served(create_app(config, MovableClock(SENT_AT + timedelta(hours=1)))) as base:
        yield config, base


def _email_of(engine, customer_id: str) -> str:
    with UnitOfWork(engine) as uow:
        return str(
            uow.session.scalar(select(Customer.email).where(Customer.customer_id == customer_id))
        )


def test_every_apology_carries_a_one_click_link_for_its_customer(engine, world, sink, served_app):
    handler, _ = sink
    config, _ = served_app
    executed(engine, world.streaming)
    assert send(engine, config).sent > 0
    by_address = {c["email"].lower(): c["customer_id"] for c in world.truth.customers}
    for item in handler.received():
        message = handler.open(item)
        customer = by_address[item["rcpt_tos"][0].lower()]
        token = unsubscribe_token(SECRET, customer)
        assert message["List-Unsubscribe"] == f"<{BASE}/unsubscribe/{token}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_get_changes_nothing_and_a_cookieless_post_unsubscribes(engine, world, sink, served_app):
    handler, _ = sink
    config, base = served_app
    # An active customer the shipping incident hurt: credited automatically.
    customer = next(c for c in sorted(world.truth.shipping_confirmed) if c.startswith("late"))
    path = f"/unsubscribe/{unsubscribe_token(SECRET, customer)}"
    with httpx.Client(base_url=base) as browser:
        for _ in range(3):  # a mail scanner, a preview, the customer
            shown = browser.get(path)
            assert shown.status_code == 200 and 'name="List-Unsubscribe"' in shown.text
        with UnitOfWork(engine) as uow:
            assert uow.session.scalars(select(Suppression)).all() == []
    with httpx.Client(base_url=base) as mail_client:  # no cookie, no form of ours
        done = mail_client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert 200 <= done.status_code < 300
        again = mail_client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert again.status_code == 200
    with UnitOfWork(engine) as uow:
        [entry] = uow.session.scalars(select(Suppression)).all()
    assert entry.address == _email_of(engine, customer).lower()
    assert entry.reason.startswith("unsubscribed")

    # The later campaign: the customer's credit is granted, and no letter reaches them.
    executed(engine, world.shipping)
    send(engine, config)
    address = _email_of(engine, customer).lower()
    assert address not in [i["rcpt_tos"][0].lower() for i in handler.received()]
    assert len(handler.received()) > 0  # everyone else was written to
    with UnitOfWork(engine) as uow:
        credited = uow.session.scalars(
            select(LedgerEntry).where(LedgerEntry.customer_id == customer)
        ).all()
        status = uow.session.scalar(select(Message.status).where(Message.customer_id == customer))
    assert len(credited) == 1 and status == "suppressed"
    with UnitOfWork(engine) as uow:
        campaign = uow.session.scalars(
            select(Campaign).where(Campaign.incident_id == world.shipping)
        ).one()
        report = incident_report(uow.session, world.shipping, SENT_AT)
        planned = reach(uow.session, campaign.id)
    # The plan's preview counts them, and the report says so after sending.
    assert planned["opted_out"] == 1
    assert report.delivery.opted_out == 1 and report.delivery.suppressed >= 1


def test_a_forged_or_moved_token_is_unknown(engine, world, served_app):
    _, base = served_app
    a, b = sorted(world.truth.streaming_confirmed)[:2]
    token = unsubscribe_token(SECRET, a)
    other = unsubscribe_token(SECRET, b)
    moved = token.split(".")[0] + "." + other.split(".")[1]
    with httpx.Client(base_url=base) as client:
        for bad in (
            moved,
            token[:-2] + "AA",
            "x",
            "a." * 400,
            unsubscribe_token("another-secret-key!", a),
        ):
            assert (
                client.post(
                    f"/unsubscribe/{bad}", content=b"List-Unsubscribe=One-Click"
                ).status_code
                == 404
            )
    with UnitOfWork(engine) as uow:
        assert uow.session.scalars(select(Suppression)).all() == []


def test_opting_out_by_email_stops_texts_too(engine, world, sink, served_app):
    """Unsubscribing, or reporting an apology as spam, stops apologies on every channel:
    the phone goes on the suppression list beside the address."""
    _, base = served_app
    executed(engine, world.shipping)
    with UnitOfWork(engine) as uow:
        written = uow.session.scalars(
            select(Message.customer_id).where(Message.channel == "email").order_by(Message.id)
        ).all()
    leaving, angry = written[:2]
    with UnitOfWork(engine) as uow:
        for n, who in enumerate((leaving, angry)):
            customer = uow.session.get(Customer, who)
            assert customer is not None
            customer.phone, customer.channel = f"+1415555010{n}", "email,sms"
        uow.commit()
    with httpx.Client(base_url=base) as mail_client:
        done = mail_client.post(
            f"/unsubscribe/{unsubscribe_token(SECRET, leaving)}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert 200 <= done.status_code < 300
    with UnitOfWork(engine) as uow:
        letter = uow.session.scalars(
            select(Message).where(Message.customer_id == angry, Message.channel == "email")
        ).first()
        assert letter is not None
        report = Feedback("complaint", str(letter.recipient), bounce_token(SECRET, letter.id))
        take(uow.session, [report], "arf-1", "test", SENT_AT, SECRET)
        uow.commit()
    with UnitOfWork(engine) as uow:
        stopped = {
            (s.channel, s.address): s.reason for s in uow.session.scalars(select(Suppression))
        }
        [audit] = uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customer.unsubscribed")
        )
    assert stopped[("sms", "+14155550100")].startswith("unsubscribed")
    assert stopped[("sms", "+14155550101")].startswith("complained")
    assert stopped[("email", _email_of(engine, leaving).lower())].startswith("unsubscribed")
    assert audit.after["channels"] == ["email", "sms"]


@pytest.mark.parametrize(
    ("language", "title", "button"),
    [
        ("de", "Diese E-Mails abbestellen?", "Abbestellen"),
        ("ja", None, None),
        ("en", "Stop these emails?", "Unsubscribe"),
    ],
)
def test_the_unsubscribe_page_speaks_the_customers_language(
    engine, world, served_app, language, title, button
):
    import json
    from importlib import resources

    words = json.loads(resources.files("makegood.web").joinpath("words.json").read_text("utf-8"))
    title = title or words[language]["unsubscribe_title"]
    button = button or words[language]["unsubscribe_button"]
    _, base = served_app
    tags = {"de": "de-DE", "ja": "ja-JP", "en": "en-GB"}
    with UnitOfWork(engine) as uow:
        one = uow.session.scalars(select(Customer).order_by(Customer.customer_id)).first()
        assert one is not None
        one.locale, customer = tags[language], one.customer_id
        uow.commit()
    with httpx.Client(base_url=base) as browser:
        shown = browser.get(f"/unsubscribe/{unsubscribe_token(SECRET, customer)}")
    assert shown.status_code == 200
    assert f'lang="{language}' in shown.text
    assert title in shown.text and f">{button}<" in shown.text
