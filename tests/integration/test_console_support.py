"""The console's support pages and mailbox over real HTTP (uvicorn on 127.0.0.1), with
emails delivered by the real sender to a real SMTP sink, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select, update

from makegood.audit.models import AuditEntry
from makegood.config import Settings, WebSettings
from makegood.console.users import add_user
from makegood.credits.models import LedgerEntry, Offer
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.messaging import wording
from makegood.messaging.models import Message
from tests.support.claims import Delivered, delivered_links
from tests.support.delivery import SENT_AT, Sink, executed, send, settings
from tests.support.server import MovableClock, served

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "correct horse battery staple"


@dataclass
class Site:
    base: str
    clock: MovableClock
    config: Settings
    sink: Sink
    links: list[Delivered]


@pytest.fixture
def site(engine, database_url, world, sink):
    """Both seed campaigns executed and delivered, two console users, the app served."""
    handler, port = sink
    executed(engine, world.shipping)
    executed(engine, world.streaming)
    # Served over plain HTTP, so the session cookie must not be marked Secure.
    config = settings(database_url, port).model_copy(
        update={
            "base_url": "http://video.example.com",
            "mailbox_dir": handler.directory,
            "web": WebSettings(claim_rate_per_minute=0),
        }
    )
    send(engine, config)
    links = delivered_links(handler)
    assert links
    with UnitOfWork(engine) as uow:
        add_user(uow.session, "dana", "operator", PASSWORD, SENT_AT, "test", "Dana Whitfield")
        add_user(uow.session, "vic", "viewer", PASSWORD, SENT_AT, "test", "Vic Viewer")
        uow.commit()
    clock = MovableClock(SENT_AT + timedelta(hours=1))
    with served(create_app(config, clock)) as base:
        yield Site(base, clock, config, handler, links)


def signed_in(site: Site, username: str) -> httpx.Client:
    client = httpx.Client(base_url=site.base, timeout=30)
    form = client.get("/console/login")
    done = client.post(
        "/console/login",
        data={
            "csrf": csrf_in(form.text),
            "username": username,
            "password": PASSWORD,
            "next": "/console/customers",
        },
    )
    assert done.status_code == 303, done.text
    return client


@pytest.fixture
def dana(site):
    client = signed_in(site, "dana")
    yield client
    client.close()


@pytest.fixture
def vic(site):
    client = signed_in(site, "vic")
    yield client
    client.close()


def csrf_in(page: str) -> str:
    found = CSRF.search(page)
    assert found, "the page has no CSRF field"
    return html.unescape(found.group(1))


def customer_of(engine, link: Delivered) -> Customer:
    with UnitOfWork(engine) as uow:
        return uow.session.scalars(select(Customer).where(Customer.email == link.recipient)).one()


def offer_of(engine, customer_id: str) -> Offer:
    with UnitOfWork(engine) as uow:
        return uow.session.scalars(select(Offer).where(Offer.customer_id == customer_id)).one()


def page_of(customer: Customer) -> str:
    return f"/console/customers/{quote(customer.customer_id, safe='')}"


def claim_over_http(client: httpx.Client, path: str) -> httpx.Response:
    shown = client.get(path)
    assert shown.status_code == 200
    return client.post(path, data={"csrf": csrf_in(shown.text)})


def audit(engine, action: str) -> list[AuditEntry]:
    with UnitOfWork(engine) as uow:
        return list(uow.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- finding a customer --------------------------------------------------------------


def test_a_customer_is_found_by_email_in_any_case_and_by_id(engine, site, dana):
    customer = customer_of(engine, site.links[0])
    for query in (customer.email.upper(), f" {customer.email} ", customer.customer_id):
        found = dana.get("/console/customers", params={"q": query})
        assert found.status_code == 303
        assert found.headers["location"] == page_of(customer)
    missing = dana.get("/console/customers", params={"q": customer.email[:-3]})
    assert missing.status_code == 200 and "No customer found" in missing.text
    assert dana.get("/console/customers/nobody-at-all").status_code == 404


def test_the_support_pages_need_a_signed_in_user(engine, site):
    customer = customer_of(engine, site.links[0])
    with httpx.Client(base_url=site.base) as anonymous:
        for path in ("/console/customers", page_of(customer), "/console/mailbox"):
            answer = anonymous.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/console/login")


def test_the_page_shows_profile_incidents_offers_messages_attempts_ledger_and_balance(
    engine, site, dana
):
    link = site.links[0]
    customer = customer_of(engine, link)
    with httpx.Client(base_url=site.base) as browser:
        assert claim_over_http(browser, link.path).status_code == 303
    offer = offer_of(engine, customer.customer_id)
    page = dana.get(page_of(customer))
    assert page.status_code == 200
    text = page.text
    for shown in (
        customer.email,
        customer.timezone,
        customer.locale,
        customer.plan,
        customer.next_bill_date.isoformat(),
        "15.49 USD",  # monthly price, in major units of its currency
        "streaming outage",
        "confirmed",
        "failed attempts",  # the magnitude, with its unit
        "Evidence",
        f'id="offer-{offer.id}"',
        "claimed",
        "Claim email",
        "Message accepted for delivery",  # the delivery attempt
        "Credit: streaming outage",  # the ledger entry
    ):
        assert shown in text, shown
    amount = f"{offer.amount_minor / 100:.2f} USD"
    assert text.count(amount) >= 3  # the offer, the ledger entry and the balance
    assert f"/console/offers/{offer.id}/void" in text
    assert f"/console/offers/{offer.id}/resend" not in text  # claimed: nothing to resend

    shipped = next(
        c for c in _customers(engine) if c.customer_id.startswith("late1-")
    )  # an automatic credit, granted
    granted = dana.get(page_of(shipped)).text
    assert "granted" in granted and "1 day late" in granted and "order id" in granted


def _customers(engine) -> list[Customer]:
    with UnitOfWork(engine) as uow:
        return list(uow.session.scalars(select(Customer).order_by(Customer.customer_id)))


def test_customer_data_is_escaped_on_the_page(engine, site, dana):
    customer = customer_of(engine, site.links[0])
    with UnitOfWork(engine) as uow:
        uow.session.execute(
            update(Customer)
            .where(Customer.customer_id == customer.customer_id)
            .values(first_name='<script>alert("x")</script>', plan="<b>gold</b>")
        )
        uow.commit()
    text = dana.get(page_of(customer)).text
    assert "<script>alert" not in text and "<b>gold</b>" not in text
    assert "&lt;script&gt;" in text and "&lt;b&gt;gold&lt;/b&gt;" in text


# --- actions ----------------------------------------------------------------------------


def test_resend_gives_a_new_link_that_claims_and_the_old_link_answers_404(engine, site, dana):
    link = site.links[0]
    customer = customer_of(engine, link)
    offer = offer_of(engine, customer.customer_id)
    page = dana.get(page_of(customer))
    done = dana.post(f"/console/offers/{offer.id}/resend", data={"csrf": csrf_in(page.text)})
    assert done.status_code == 303
    assert done.headers["location"] == f"{page_of(customer)}#offer-{offer.id}"
    after = dana.get(done.headers["location"]).text
    assert "A new claim email" in after and "sent again" in after

    with httpx.Client(base_url=site.base) as browser:
        assert browser.get(link.path).status_code == 404
        assert send(engine, site.config).sent == 1
        mine = [d for d in delivered_links(site.sink) if d.recipient == link.recipient]
        assert len(mine) == 2 and mine[1].token != link.token
        assert claim_over_http(browser, mine[1].path).status_code == 303
    assert offer_of(engine, customer.customer_id).status == "claimed"
    [entry] = audit(engine, "offer.claim_resent")
    assert entry.actor == "dana" and entry.after["sequence"] == 2
    assert link.token not in str(entry.after) and mine[1].token not in str(entry.after)


def test_support_claims_for_the_customer_once_and_the_audit_names_them(engine, site, dana):
    link = site.links[0]
    customer = customer_of(engine, link)
    offer = offer_of(engine, customer.customer_id)
    page = dana.get(page_of(customer))
    assert f'action="/console/offers/{offer.id}/claim"' in page.text
    done = dana.post(f"/console/offers/{offer.id}/claim", data={"csrf": csrf_in(page.text)})
    assert done.status_code == 303
    assert "is claimed" in dana.get(done.headers["location"]).text
    assert offer_of(engine, customer.customer_id).status == "claimed"
    [entry] = audit(engine, "offer.claimed")
    assert entry.actor == "support:dana"
    again = dana.post(f"/console/offers/{offer.id}/claim", data={"csrf": csrf_in(page.text)})
    assert "cannot be claimed" in dana.get(again.headers["location"]).text
    assert len(audit(engine, "offer.claimed")) == 1
    with httpx.Client(base_url=site.base) as browser:  # the link has no button left
        shown = browser.get(link.path)
    assert shown.status_code == 200 and 'name="csrf"' not in shown.text


def test_extending_the_deadline_shows_on_the_claim_page_past_the_old_deadline(engine, site, dana):
    link = site.links[0]
    customer = customer_of(engine, link)
    offer = offer_of(engine, customer.customer_id)
    new = (offer.expires_at + timedelta(days=10)).replace(hour=18, minute=0, second=0)
    page = dana.get(page_of(customer))
    done = dana.post(
        f"/console/offers/{offer.id}/extend",
        data={"csrf": csrf_in(page.text), "deadline": new.strftime("%Y-%m-%dT%H:%M")},
    )
    assert done.status_code == 303
    assert new.strftime("%Y-%m-%d %H:%M UTC") in dana.get(done.headers["location"]).text

    site.clock.instant = offer.expires_at + timedelta(days=1)
    with httpx.Client(base_url=site.base) as browser:
        shown = browser.get(link.path)
    assert shown.status_code == 200
    zone = ZoneInfo(customer.timezone)
    assert wording.full_date(new.astimezone(zone).date(), customer.locale) in shown.text
    old = wording.full_date(offer.expires_at.astimezone(zone).date(), customer.locale)
    assert old not in shown.text
    [entry] = audit(engine, "offer.deadline_extended")
    assert entry.actor == "dana"
    assert entry.after["expires_at"] == new.astimezone(UTC).isoformat()


def test_an_earlier_deadline_is_refused_with_a_message_and_nothing_changes(engine, site, dana):
    customer = customer_of(engine, site.links[0])
    offer = offer_of(engine, customer.customer_id)
    page = dana.get(page_of(customer))
    earlier = offer.expires_at - timedelta(days=1)
    done = dana.post(
        f"/console/offers/{offer.id}/extend",
        data={"csrf": csrf_in(page.text), "deadline": earlier.strftime("%Y-%m-%dT%H:%M")},
    )
    assert done.status_code == 303
    after = dana.get(done.headers["location"]).text
    assert "flash-error" in after and "not later than the current" in after
    assert offer_of(engine, customer.customer_id).expires_at == offer.expires_at
    bad = dana.post(
        f"/console/offers/{offer.id}/extend",
        data={"csrf": csrf_in(after), "deadline": "next tuesday"},
    )
    assert "is not a date and time" in dana.get(bad.headers["location"]).text


def test_voiding_with_a_reason_reverses_the_credit_and_is_audited(engine, site, dana):
    link = site.links[0]
    customer = customer_of(engine, link)
    with httpx.Client(base_url=site.base) as browser:
        claim_over_http(browser, link.path)
    offer = offer_of(engine, customer.customer_id)
    amount = f"{offer.amount_minor / 100:.2f} USD"
    page = dana.get(page_of(customer)).text
    assert f'<td class="num">{amount}</td>' in page  # the balance before

    unconfirmed = dana.post(
        f"/console/offers/{offer.id}/void", data={"csrf": csrf_in(page), "reason": "dup"}
    )
    assert "Tick the box" in dana.get(unconfirmed.headers["location"]).text
    no_reason = dana.post(
        f"/console/offers/{offer.id}/void",
        data={"csrf": csrf_in(page), "reason": "   ", "confirm": "yes"},
    )
    assert "Say why" in dana.get(no_reason.headers["location"]).text
    assert offer_of(engine, customer.customer_id).status == "claimed"

    done = dana.post(
        f"/console/offers/{offer.id}/void",
        data={"csrf": csrf_in(page), "reason": "Duplicate account", "confirm": "yes"},
    )
    assert done.status_code == 303
    after = dana.get(done.headers["location"]).text
    assert "reversed on the ledger" in after and "Duplicate account" in after
    assert f"-{amount}" in after and '<td class="num">0.00 USD</td>' in after
    with UnitOfWork(engine) as uow:
        entries = uow.session.execute(
            select(LedgerEntry.kind, LedgerEntry.amount_minor)
            .where(LedgerEntry.offer_id == offer.id)
            .order_by(LedgerEntry.id)
        ).all()
    assert entries == [("claim", offer.amount_minor), ("reversal", -offer.amount_minor)]
    [entry] = audit(engine, "offer.voided")
    assert (entry.actor, entry.object_id) == ("dana", str(offer.id))
    assert entry.before == {"status": "claimed"}
    assert entry.after == {
        "status": "voided",
        "reason": "Duplicate account",
        "reversed_minor": offer.amount_minor,
    }


def test_a_viewer_sees_no_buttons_and_every_post_is_refused(engine, site, vic):
    customer = customer_of(engine, site.links[0])
    offer = offer_of(engine, customer.customer_id)
    page = vic.get(page_of(customer))
    assert page.status_code == 200
    assert "/console/offers/" not in page.text
    for button in ("Resend with a new link", "Extend", "Void credit", "Void this credit"):
        assert button not in page.text
    token = csrf_in(page.text)  # the sign-out form's: a valid token for this session
    for action, data in (
        ("resend", {}),
        ("extend", {"deadline": "2026-04-30T12:00"}),
        ("void", {"reason": "viewer", "confirm": "yes"}),
    ):
        refused = vic.post(f"/console/offers/{offer.id}/{action}", data={"csrf": token, **data})
        assert refused.status_code == 403, action
    assert offer_of(engine, customer.customer_id).status == "offered"
    with UnitOfWork(engine) as uow:
        by_vic = select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == "vic")
        assert uow.session.scalar(by_vic) == 0


def test_a_post_without_the_sessions_csrf_token_is_refused(engine, site, dana):
    customer = customer_of(engine, site.links[0])
    offer = offer_of(engine, customer.customer_id)
    for data in ({}, {"csrf": "forged"}, {"csrf": ""}):
        for action in ("resend", "void"):
            refused = dana.post(
                f"/console/offers/{offer.id}/{action}",
                data={**data, "reason": "x", "confirm": "yes"},
            )
            assert refused.status_code == 403
    assert offer_of(engine, customer.customer_id).status == "offered"
    with UnitOfWork(engine) as uow:
        resent = uow.session.scalar(
            select(func.count()).select_from(Message).where(Message.offer_id == offer.id)
        )
    assert resent == 1


# --- the mailbox ------------------------------------------------------------------------


def test_the_mailbox_lists_what_the_sink_received_newest_first_with_search_and_pages(site, dana):
    received = site.sink.received()
    assert len(received) > 50  # more than one page
    first = dana.get("/console/mailbox")
    assert first.status_code == 200
    files = re.findall(r'href="/console/mailbox/([0-9]+\.eml)"', first.text)
    assert files == [item["file"] for item in reversed(received)][:50]
    assert f"of {len(received)}" in first.text and "Older" in first.text
    second = dana.get("/console/mailbox", params={"page": 2})
    rest = re.findall(r'href="/console/mailbox/([0-9]+\.eml)"', second.text)
    assert rest == [item["file"] for item in reversed(received)][50:]
    assert dana.get("/console/mailbox", params={"page": "x"}).status_code == 200

    who = site.links[0].recipient
    found = dana.get("/console/mailbox", params={"q": who.upper()})
    hits = re.findall(r'href="/console/mailbox/([0-9]+\.eml)"', found.text)
    assert hits == [i["file"] for i in reversed(received) if who in i["rcpt_tos"]]


def test_a_message_is_shown_as_the_customer_sees_it_in_a_sandboxed_frame(site, dana):
    item = next(i for i in site.sink.received() if site.links[0].recipient in i["rcpt_tos"])
    shown = dana.get(f"/console/mailbox/{item['file']}")
    assert shown.status_code == 200
    text = shown.text
    email = site.sink.open(item)
    assert str(email["Subject"]) in html.unescape(text) and "Message-ID" in text

    frame = re.search(r"<iframe[^>]*>", text).group(0)
    sandbox = re.search(r'sandbox="([^"]*)"', frame).group(1)
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    srcdoc = re.search(r'srcdoc="([^"]*)"', frame).group(1)
    assert "<" not in srcdoc and ">" not in srcdoc  # markup arrives escaped...
    body = email.get_body(preferencelist=("html",)).get_content()
    # ...and whole: an unescaped quote would have cut it short.
    assert html.unescape(srcdoc).replace('<base target="_blank">', "") == body
    plain = email.get_body(preferencelist=("plain",)).get_content()
    assert plain.strip()[:200] in html.unescape(text)
    assert site.links[0].token in text  # the link, in the text part and the link list

    policy = shown.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "script-src" not in policy
    assert "'unsafe-hashes' 'sha256-" in policy


def test_a_viewer_sees_a_letter_without_the_claim_token_that_would_spend_the_credit(
    site, vic, dana
):
    item = next(i for i in site.sink.received() if site.links[0].recipient in i["rcpt_tos"])
    token = site.links[0].token
    seen = vic.get(f"/console/mailbox/{item['file']}")
    assert seen.status_code == 200
    assert token not in seen.text and token not in html.unescape(seen.text)
    assert "/claim/(hidden-from-viewers)" in html.unescape(seen.text)
    # The letter is otherwise whole, and one who may act for the customer still sees it.
    assert str(site.sink.open(item)["Subject"]) in html.unescape(seen.text)
    assert token in dana.get(f"/console/mailbox/{item['file']}").text


def test_message_names_that_lead_anywhere_else_are_refused(site, dana, tmp_path):
    directory = Path(site.config.mailbox_dir)
    secret = tmp_path / "secret.eml"
    secret.write_text("Subject: not mail\n\nsecret")
    os.symlink(secret, directory / "0099999.eml")
    for name in (
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "index.jsonl",
        ".0000001.eml.part",
        "0000001.eml%00",
        "0000001.EML",
        "..%2Fsecret.eml",
        "%2Fetc%2Fpasswd",
        "0099999.eml",  # a link out of the mailbox
        "0000999.eml",  # never received
    ):
        answer = dana.get(f"/console/mailbox/{name}")
        assert answer.status_code == 404, name
        assert "secret" not in answer.text and "root:" not in answer.text
    raw = httpx.get(f"{site.base}/console/mailbox/../../etc/passwd", cookies=dana.cookies)
    assert raw.status_code in (303, 404) and "root:" not in raw.text


def test_the_mailbox_page_says_how_to_fill_it_when_empty(engine, site, tmp_path):
    empty = site.config.model_copy(update={"mailbox_dir": tmp_path / "nothing-here"})
    with served(create_app(empty, site.clock)) as base:
        other = Site(base, site.clock, empty, site.sink, site.links)
        client = signed_in(other, "vic")
        page = client.get("/console/mailbox")
        assert page.status_code == 200 and "makegood mailbox" in page.text
        assert client.get("/console/mailbox/0000001.eml").status_code == 404
        client.close()


def test_times_on_the_page_are_utc_and_say_so(engine, site, dana):
    customer = customer_of(engine, site.links[0])
    offer = offer_of(engine, customer.customer_id)
    text = dana.get(page_of(customer)).text
    assert offer.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") in text
    local = offer.expires_at.astimezone(ZoneInfo(customer.timezone)).strftime("%Y-%m-%d %H:%M")
    assert f"{local} {customer.timezone}" in text
