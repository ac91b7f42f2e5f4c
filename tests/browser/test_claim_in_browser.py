"""A customer's way through the claim page, in Chromium: the link in the email, the
offer, the button, the confirmation, and the pages for ended and unknown links."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from makegood.messaging.letters import money
from makegood.web.words import WORDS
from tests.browser.conftest import Site

EN = WORDS["en"]


def test_the_emailed_link_shows_the_offer_and_the_button_claims_it_once(site: Site, page: Page):
    link = site.take()
    offer, customer = site.offer(link), site.customer(link)
    amount = money(offer.amount_minor, offer.currency, customer.locale)
    assert offer.expires_at is not None
    deadline = offer.expires_at.astimezone(ZoneInfo(customer.timezone))

    opened = page.goto(site.url(link))
    assert opened is not None and opened.status == 200
    expect(page).to_have_title(EN["title"].replace("{company}", "Example Video"))
    expect(page.locator("html")).to_have_attribute("lang", customer.locale)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hi {customer.first_name},")
    credit = page.get_by_role("region", name=EN["credit_label"])
    expect(credit).to_contain_text(amount)
    # The deadline in the customer's own zone, e.g. "Thursday, March 19, 2026, 12:00 PM".
    expect(credit).to_contain_text(
        f"{deadline:%A}, {deadline:%B} {deadline.day}, {deadline.year}, "
        f"{deadline.hour % 12 or 12}:{deadline:%M}"
    )
    button = page.get_by_role("button", name=EN["button"], exact=True)
    expect(button).to_be_visible()
    expect(button).to_be_enabled()
    expect(button).to_have_accessible_description(EN["once"])
    assert site.credits(link) == 0  # opening the link changed nothing
    assert site.offer(link).status == "offered"

    with page.expect_response(lambda r: "claimed=1" in r.url) as answered:
        button.click()
    assert answered.value.status == 200
    expect(page).to_have_url(re.compile(r"/claim/[^/?]+\?claimed=1$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(EN["done_title"])
    expect(page.get_by_role("status")).to_contain_text(amount)
    expect(page.get_by_role("button")).to_have_count(0)
    assert site.offer(link).status == "claimed"
    assert site.credits(link) == 1

    reloaded = page.reload()
    assert reloaded is not None and reloaded.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(EN["done_title"])
    expect(page.get_by_role("status")).to_contain_text(amount)
    expect(page.get_by_role("button")).to_have_count(0)
    assert site.credits(link) == 1

    # Back to the offer: the page is not cached, so the link now says it was claimed.
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text(EN["already_title"])
    expect(page.get_by_role("button")).to_have_count(0)
    assert site.credits(link) == 1


def test_pressing_the_button_in_a_second_tab_gives_no_second_credit(site: Site, page: Page):
    link = site.take()
    other = page.context.new_page()
    page.goto(site.url(link))
    other.goto(site.url(link))

    page.get_by_role("button", name=EN["button"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(EN["done_title"])
    site.clock.instant += timedelta(minutes=5)
    with other.expect_response(lambda r: r.request.method == "POST") as answered:
        other.get_by_role("button", name=EN["button"]).click()
    assert answered.value.status == 200
    expect(other.get_by_role("heading", level=1)).to_have_text(EN["already_title"])
    expect(other.get_by_role("status")).to_contain_text("was claimed on")
    assert site.credits(link) == 1


def test_after_the_deadline_the_link_says_the_offer_ended(site: Site, page: Page):
    link = site.take()
    offer = site.offer(link)
    assert offer.expires_at is not None
    page.goto(site.url(link))  # opened in time, pressed too late
    site.clock.instant = offer.expires_at + timedelta(seconds=1)

    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.get_by_role("button", name=EN["button"]).click()
    assert answered.value.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text(EN["expired_title"])
    assert site.credits(link) == 0

    reopened = page.goto(site.url(link))
    assert reopened is not None and reopened.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text(EN["expired_title"])
    expect(page.get_by_role("main")).to_contain_text(str(offer.expires_at.year))
    call = page.get_by_role("link", name="1-800-555-0100")
    expect(call).to_have_attribute("href", "tel:1-800-555-0100")
    expect(page.get_by_role("button")).to_have_count(0)
    assert site.credits(link) == 0


def test_an_unknown_or_altered_link_says_so_and_nothing_more(site: Site, page: Page):
    link = site.take()
    altered = link.token[:-1] + ("A" if link.token[-1] != "A" else "B")
    texts = []
    for token in (altered, "never-issued"):
        opened = page.goto(f"{site.base}/claim/{token}")
        assert opened is not None and opened.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text(EN["unknown_title"])
        expect(page.get_by_role("button")).to_have_count(0)
        texts.append(page.locator("body").inner_text())
    assert texts[0] == texts[1]
    assert site.customer(link).first_name not in texts[0]


def test_a_stale_form_is_refused_and_claims_nothing(site: Site, page: Page):
    link = site.take()
    page.goto(site.url(link))
    page.locator('input[name="csrf"]').evaluate("field => { field.value = 'stale' }")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.get_by_role("button", name=EN["button"]).click()
    assert answered.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text(EN["forbidden_title"])
    assert site.credits(link) == 0
    assert site.offer(link).status == "offered"


def test_the_page_is_in_the_customers_language(site: Site, page: Page):
    link = site.take(locale="de-DE")
    opened = page.goto(site.url(link))
    assert opened is not None and opened.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "de-DE")
    expect(page.get_by_role("region", name=WORDS["de"]["credit_label"])).to_be_visible()
    page.get_by_role("button", name=WORDS["de"]["button"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(WORDS["de"]["done_title"])
    assert site.credits(link) == 1
