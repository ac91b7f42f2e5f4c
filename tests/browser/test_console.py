"""The operators' console in Chromium, against the real server and its built-in sender
delivering to a real SMTP sink: an approver signs in, opens an incident whose impact is
found, plans a campaign over budget and reviews it, approves it; a second approver
approves it too; it is executed and the page follows sending to the end on its own;
then support finds a customer and voids a credit. An operator cannot approve: the
button is absent and the POST is refused."""

from __future__ import annotations

import re
from decimal import Decimal

from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from makegood.campaigns.models import Approval
from makegood.credits.models import Offer
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from tests.browser.conftest import CONSOLE_PASSWORD, DESKTOP, PHONE, Console
from tests.support.world import SEED_POLICY

# The seed policy with a budget the shipping plan goes over: two approvers needed.
OVER_BUDGET = SEED_POLICY + 'budget = { USD = "1.00" }\n'
# 5% of 15.49 USD, rounded half up: every late customer's automatic credit.
CREDIT = Decimal("0.77")


def sign_in(page: Page, console: Console, username: str, path: str = "/console/incidents") -> None:
    """Open ``path``, get sent to the sign-in page, sign in, and land back on ``path``."""
    page.goto(console.url(path))
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(CONSOLE_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(console.url(path))


def sign_out(page: Page, console: Console) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(console.url("/console/login"))


def stat(page: Page, label: str) -> Locator:
    """The figure under a stat card's label."""
    card = page.locator(".stat").filter(has=page.locator(f'.label:text-is("{label}")'))
    return card.locator(".value")


def flash(page: Page) -> Locator:
    """The message a page shows once after an action."""
    return page.locator(".flash")


def plan(page: Page, policy: str) -> int:
    """Plan a campaign from the incident page open in ``page``; the campaign's id."""
    page.locator("#policy").fill(policy)
    page.locator("#holdout").fill("0")
    page.get_by_role("button", name="Plan campaign").click()
    expect(page).to_have_url(re.compile(r"/console/campaigns/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def late_customers(console: Console) -> tuple[list[str], list[str]]:
    """Customers whose shipment was late: (active, cancelled), as the data says."""
    status = {c["customer_id"]: c["status"] for c in console.world.truth.customers}
    late = sorted(console.world.truth.shipping_confirmed)
    return (
        [c for c in late if status[c] == "active"],
        [c for c in late if status[c] == "cancelled"],
    )


def test_two_approvers_execute_a_campaign_and_support_voids_a_credit(
    page: Page, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    active, cancelled = late_customers(console)
    offers = len(active)
    incident = console.world.shipping

    # Approver A signs in and opens the shipping incident from the list.
    sign_in(page, console, "ava")
    expect(page.locator(".who .person")).to_have_text("Ava Lindqvist")
    page.locator(f'a[href="/console/incidents/{incident}"]').click()
    expect(page).to_have_url(console.url(f"/console/incidents/{incident}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("shipping outage")
    expect(stat(page, "Confirmed")).to_have_text(f"{offers + len(cancelled):,}")
    expect(page.locator(".timeline")).to_contain_text("Impact found")

    # She plans a campaign over budget and reviews it.
    campaign = plan(page, OVER_BUDGET)
    path = f"/console/campaigns/{campaign}"
    expect(flash(page)).to_contain_text("The campaign is planned.")
    expect(page.locator("#status-pill")).to_have_text("draft")
    expect(stat(page, "Offers")).to_have_text(f"{offers:,}")
    expect(stat(page, "Excluded")).to_have_text(f"{len(cancelled):,}")
    expect(stat(page, "Total credit")).to_have_text(f"{CREDIT * offers} USD")
    approval = page.locator("section.approval")
    expect(approval).to_contain_text("over budget")
    expect(approval).to_contain_text("two approvals by different people")
    expect(approval).to_contain_text("0 of 2 so far")

    # The email of a sample customer per locale: English, German, then Japanese by id.
    german, japanese = (c for c, _ in sorted(console.locales.items(), key=lambda kv: kv[1]))
    tabs = page.locator("#email .tabs a")
    expect(tabs).to_have_count(3)
    headers = page.locator("dl.headers")
    letter = page.frame_locator("iframe.email-frame").locator("body")
    tabs.filter(has_text="en-US").click()
    expect(page).to_have_url(re.compile(r"\?customer=[^&#]+#email$"))
    expect(headers).to_contain_text("templates en-US")
    expect(letter).to_contain_text("Hi Sam")
    expect(letter).to_contain_text("$0.77")
    expect(page.locator(".email-views pre.text")).to_contain_text("$0.77")
    tabs.filter(has_text="de-DE").click()
    expect(page).to_have_url(re.compile(rf"\?customer={german}#email$"))
    expect(headers).to_contain_text(f"{german} · Automatic credit of 0.77 USD · templates de-DE")
    expect(letter).to_contain_text("Hallo Sam")
    expect(letter).to_contain_text("0,77\xa0$")
    page.locator("#customer").fill(japanese)
    page.get_by_role("button", name="Show").click()
    expect(headers).to_contain_text(f"{japanese} · Automatic credit of 0.77 USD · templates ja-JP")
    expect(page.locator("#customer")).to_have_value(japanese)

    # Approval one of two; the button is gone for her.
    page.locator("#approve").click()
    expect(flash(page)).to_contain_text("a second, different approver must approve it too")
    expect(page.locator("#approve")).to_have_count(0)
    expect(approval).to_contain_text("1 of 2 so far")
    sign_out(page, console)

    # Approver B signs in straight onto the campaign and gives the second approval.
    sign_in(page, console, "ben", path)
    expect(approval).to_contain_text("1 of 2 so far")
    page.locator("#approve").click()
    expect(flash(page)).to_contain_text(f"Campaign {campaign} is approved and ready to execute.")
    expect(page.locator("#status-pill")).to_have_text("approved")
    expect(page.locator(".head")).to_contain_text("Approved by ava")
    with UnitOfWork(console.engine) as uow:
        approvers = uow.session.scalars(
            select(Approval.approver).where(Approval.campaign_id == campaign).order_by(Approval.id)
        ).all()
    assert approvers == ["ava", "ben"]

    # Execute (the page asks first); the sink holds the mail until the page is seen
    # waiting, so what follows is the page's own polling bringing it to the end.
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#execute").click()
    expect(flash(page)).to_contain_text("Execution started")
    progress = page.locator("#progress")
    expect(progress).to_have_attribute("data-live", "yes")
    meter = page.locator("#meter")
    assert float(meter.get_attribute("value") or 0) < 100
    page.evaluate("window.stillTheSamePage = true")
    console.sink.released.set()
    expect(meter).to_have_js_property("value", 100, timeout=30_000)
    expect(page.locator("#status-pill")).to_have_text("done")
    expect(progress.locator('[data-field="phase"]')).to_have_text("Done: every apology is out")
    expect(progress.locator('[data-field="messages.sent"]')).to_have_text(f"{offers:,}")
    expect(progress.locator('[data-field="messages.failed"]')).to_have_text("0")
    expect(page.locator("#progress-note")).to_contain_text("Finished.")
    assert page.evaluate("window.stillTheSamePage") is True  # no reload: the script did it
    received = console.sink.message_ids()
    assert len(received) == offers and set(received.values()) == {1}

    # Support: find the German customer by email and void the credit.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Support").click()
    expect(page).to_have_url(console.url("/console/customers"))
    page.get_by_label("Customer ID or email address").fill(f"{german}@example.com".upper())
    page.get_by_role("button", name="Find customer").click()
    expect(page).to_have_url(console.url(f"/console/customers/{german}"))
    expect(stat(page, "Credit balance")).to_have_text(f"{CREDIT} USD")
    with UnitOfWork(console.engine) as uow:
        offer = uow.session.scalars(
            select(Offer).where(Offer.customer_id == german, Offer.campaign_id == campaign)
        ).one()
        customer = uow.session.get(Customer, german)
        assert customer is not None and customer.locale == "de-DE"
    card = page.locator(f"#offer-{offer.id}")
    expect(card.locator(".pill")).to_have_text("granted")
    card.get_by_text("Void this credit…").click()
    card.get_by_label("Reason").fill("Credited by phone on the same day")
    card.get_by_role("checkbox").check()
    card.get_by_role("button", name="Void credit").click()
    expect(page).to_have_url(console.url(f"/console/customers/{german}#offer-{offer.id}"))
    expect(card.locator(".flash")).to_have_text(
        f"Offer #{offer.id} is voided and {CREDIT} USD is reversed on the ledger."
    )
    expect(card.locator(".offer-head .pill")).to_have_text("voided")
    expect(card).to_contain_text("Credited by phone on the same day")
    ledger = page.locator("section[aria-labelledby='ledger-h']")
    reversal = ledger.locator("tbody tr").filter(has=page.locator(".pill.reversal"))
    expect(reversal).to_have_count(1)
    expect(reversal.locator("td.num")).to_have_text(f"-{CREDIT} USD")
    expect(ledger.locator("tfoot")).to_contain_text("0.00 USD")
    expect(stat(page, "Credit balance")).to_have_text("0.00 USD")


def test_an_operator_has_no_approve_button_and_her_post_is_refused(
    page: Page, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    incident = console.world.streaming
    sign_in(page, console, "olivia", f"/console/incidents/{incident}")
    campaign = plan(page, OVER_BUDGET)
    path = f"/console/campaigns/{campaign}"
    expect(page.locator("#status-pill")).to_have_text("draft")
    expect(page.locator("#approve")).to_have_count(0)
    expect(page.locator("#cancel")).to_be_visible()  # an operator's own button is there
    expect(page.locator("section.approval")).to_contain_text(
        "Approving needs the approver role; you are signed in as operator."
    )

    # The form she cannot see, posted anyway with her session's own CSRF token.
    token = page.locator('input[name="csrf"]').first.input_value()
    refused = page.request.post(console.url(f"{path}/approve"), form={"csrf": token})
    assert refused.status == 403
    assert "needs the approver role" in refused.text()
    refused = page.evaluate(
        """async ([url, token]) => {
             const answer = await fetch(url, {method: "POST", body: new URLSearchParams({csrf: token})});
             return answer.status;
           }""",
        [console.url(f"{path}/approve"), token],
    )
    assert refused == 403
    with UnitOfWork(console.engine) as uow:
        assert (
            uow.session.scalars(select(Approval).where(Approval.campaign_id == campaign)).all()
            == []
        )
    page.reload()
    expect(page.locator("#status-pill")).to_have_text("draft")
    # The token was good: the same one signs her out.
    out = page.request.post(console.url("/console/logout"), form={"csrf": token}, max_redirects=0)
    assert out.status == 303 and out.headers["location"] == "/console/login"


def test_the_console_fits_a_phone(page: Page, console: Console) -> None:
    """At 390 px the top bar wraps instead of running off the screen."""
    page.set_viewport_size(PHONE)
    sign_in(page, console, "olivia")
    for path in (
        "/console/incidents",
        f"/console/incidents/{console.world.shipping}",
        "/console/customers",
        "/console/mailbox",
    ):
        page.goto(console.url(path))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
        for link in page.locator(".top a, .top button").all():
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0, path
            assert box["x"] + box["width"] <= PHONE["width"], (path, link.text_content())
