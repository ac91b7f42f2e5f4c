"""The claim page over real HTTP (uvicorn on 127.0.0.1), with links taken from
emails a real SMTP server received, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from makegood.config import WebSettings
from makegood.credits.models import LedgerEntry, Offer
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from tests.support import truth as gt
from tests.support.claims import Delivered, delivered_links
from tests.support.delivery import SENT_AT, executed, send, settings
from tests.support.server import MovableClock, served

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
def claimable(engine, database_url, world, sink):
    """The streaming campaign executed and its emails delivered: the links customers got."""
    handler, port = sink
    executed(engine, world.streaming)
    config = settings(database_url, port)
    send(engine, config)
    links = delivered_links(handler)
    assert links, "the claim campaign delivered no links"
    return config, links


@pytest.fixture
def site(engine, claimable):
    """The application served over HTTP with a clock the test moves: (client, clock, links)."""
    config, links = claimable
    clock = MovableClock(SENT_AT + timedelta(hours=1))
    app = create_app(config.model_copy(update={"web": WebSettings(claim_rate_per_minute=0)}), clock)
    with served(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client, clock, links


def offer_of(engine, link: Delivered) -> Offer:
    with UnitOfWork(engine) as uow:
        return uow.session.scalars(
            select(Offer).where(Offer.customer_id == customer_of(engine, link))
        ).one()


def customer_of(engine, link: Delivered) -> str:
    from makegood.customers.models import Customer

    with UnitOfWork(engine) as uow:
        return uow.session.scalar(
            select(Customer.customer_id).where(Customer.email == link.recipient)
        )


def credits_for(engine, offer_id: int) -> int:
    with UnitOfWork(engine) as uow:
        return uow.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.offer_id == offer_id)
        )


def test_opening_the_link_shows_the_offer_and_changes_nothing(engine, site):
    client, _, links = site
    link = links[0]
    for _ in range(3):  # a mail scanner, a preview pane, the customer
        page = client.get(link.path)
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
    offer = offer_of(engine, link)
    assert offer.status == "offered"
    assert credits_for(engine, offer.id) == 0
    html = page.text
    assert '<form method="post"' in html and CSRF.search(html)
    assert "We&#39;re sorry" in html or "We're sorry" in html or 'lang="' in html
    # The amount and the deadline appear (the deadline as a local date).
    assert any(ch.isdigit() for ch in html)


def test_the_button_claims_once_and_a_second_press_says_when(engine, site):
    client, clock, links = site
    link = links[0]
    csrf = CSRF.search(client.get(link.path).text).group(1)

    done = client.post(link.path, data={"csrf": csrf})
    assert done.status_code == 303
    confirmation = client.get(done.headers["location"])
    assert confirmation.status_code == 200
    offer = offer_of(engine, link)
    assert offer.status == "claimed"
    assert credits_for(engine, offer.id) == 1

    clock.instant += timedelta(hours=3)
    again = client.post(link.path, data={"csrf": csrf})
    assert again.status_code == 200
    assert credits_for(engine, offer.id) == 1
    reopened = client.get(link.path)
    assert reopened.status_code == 200
    assert 'role="status"' in reopened.text
    assert "<form" not in reopened.text  # nothing left to press


def test_a_post_without_the_csrf_field_is_refused(engine, site):
    client, _, links = site
    link = links[0]
    assert client.post(link.path).status_code == 403
    assert client.post(link.path, data={"csrf": "0" * 64}).status_code == 403
    other = CSRF.search(client.get(links[1].path).text).group(1)
    assert client.post(link.path, data={"csrf": other}).status_code == 403  # another link's
    assert credits_for(engine, offer_of(engine, link).id) == 0


def test_after_the_deadline_the_page_says_gone_with_the_deadline_and_phone(engine, site):
    client, clock, links = site
    link = links[0]
    csrf = CSRF.search(client.get(link.path).text).group(1)
    offer = offer_of(engine, link)
    clock.instant = offer.expires_at + timedelta(seconds=1)
    page = client.get(link.path)
    assert page.status_code == 410
    assert "1-800-555-0100" in page.text
    assert str(offer.expires_at.astimezone().year) in page.text
    late = client.post(link.path, data={"csrf": csrf})
    assert late.status_code == 410
    assert credits_for(engine, offer.id) == 0


def test_unknown_and_tampered_links_reveal_nothing(site):
    client, _, links = site
    token = links[0].token
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    pages = [client.get(f"/claim/{t}") for t in (tampered, "nope", "x" * 43)]
    assert {p.status_code for p in pages} == {404}
    assert len({p.text for p in pages}) == 1  # the same page, whatever the token was
    posted = client.post(f"/claim/{tampered}", data={"csrf": "0" * 64})
    assert posted.status_code in (403, 404)


def test_twenty_concurrent_confirmations_give_exactly_one_credit(engine, site):
    client, _, links = site
    link = links[0]
    csrf = CSRF.search(client.get(link.path).text).group(1)
    base = str(client.base_url)

    def press(_: int) -> int:
        with httpx.Client(base_url=base, timeout=30) as own:
            return own.post(link.path, data={"csrf": csrf}).status_code

    with ThreadPoolExecutor(20) as pool:
        codes = Counter(pool.map(press, range(20)))
    assert codes == Counter({303: 1, 200: 19})
    offer = offer_of(engine, link)
    assert credits_for(engine, offer.id) == 1
    with UnitOfWork(engine) as uow:
        total = uow.session.scalar(
            select(func.sum(LedgerEntry.amount_minor)).where(LedgerEntry.offer_id == offer.id)
        )
    assert total == offer.amount_minor


def test_one_address_is_slowed_down_after_its_limit(engine, claimable):
    config, links = claimable
    limited = config.model_copy(update={"web": WebSettings(claim_rate_per_minute=5)})
    app = create_app(limited, MovableClock(SENT_AT))
    with served(app) as base, httpx.Client(base_url=base) as client:
        codes = [client.get(links[0].path).status_code for _ in range(7)]
        assert codes[:5] == [200] * 5
        assert codes[5:] == [429, 429]
        refused = client.get(links[0].path)
        assert 0 < int(refused.headers["retry-after"]) <= 60


def test_customer_data_on_the_page_is_escaped(engine, site):
    from sqlalchemy import update

    from makegood.customers.models import Customer

    client, _, links = site
    link = links[0]
    with UnitOfWork(engine) as uow:
        uow.session.execute(
            update(Customer)
            .where(Customer.email == link.recipient)
            .values(first_name='<script>alert("x")</script>')
        )
        uow.commit()
    html = client.get(link.path).text
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_the_page_speaks_the_customers_language(engine, site):
    from sqlalchemy import update

    from makegood.customers.models import Customer

    client, _, links = site
    expected = {"de-DE": "Gutschrift", "ja-JP": "クレジット", "fr-FR": "avoir", "en-GB": "credit"}
    with UnitOfWork(engine) as uow:
        for link, locale in zip(links, expected, strict=False):
            uow.session.execute(
                update(Customer).where(Customer.email == link.recipient).values(locale=locale)
            )
        uow.commit()
    for link, (locale, word) in zip(links, expected.items(), strict=False):
        html = client.get(link.path).text
        assert f'<html lang="{locale}">' in html
        assert word in html


def test_the_deadline_matches_the_offer(engine, site):
    client, clock, links = site
    offer = offer_of(engine, links[0])
    assert offer.expires_at > gt.NOW
    clock.instant = offer.expires_at - timedelta(seconds=1)
    assert client.get(links[0].path).status_code == 200


@pytest.mark.parametrize("account_url", ["", "https://example.com/account"])
def test_the_page_warns_of_password_requests_and_names_the_account_only_when_there_is_one(
    engine, claimable, account_url
):
    config, links = claimable
    company = config.company.model_copy(update={"account_url": account_url})
    app = create_app(config.model_copy(update={"company": company}), MovableClock(SENT_AT))
    with served(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        page = client.get(links[0].path)
    assert page.status_code == 200
    assert "We will never ask for your password." in page.text
    says = "You can also claim this credit by signing in to your account."
    if account_url:
        assert f'<a href="{account_url}">{says}</a>' in page.text
    else:
        assert says not in page.text
