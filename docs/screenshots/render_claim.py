"""Screenshots of the customer's claim page in every state, at a phone's width
(390 x 844) and a desktop's (1280 x 800).

    .venv/bin/python docs/screenshots/render_claim.py

Builds a small company in a temporary SQLite database (customers in New York,
Chicago, Berlin and Tokyo; one evening of failed streaming), plans, approves and
executes the seed policy's claim campaign, delivers the apologies to the built-in
mailbox over SMTP, serves the application on 127.0.0.1 and follows the claim link
in each delivered email in Chromium, moving the application's clock to reach the
later states. Nothing leaves the machine.

Needs Debian's chromium at /usr/bin/chromium (or CHROMIUM=/path/to/chrome), and
fonts-noto-cjk for the Japanese page.
"""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import os
import tempfile
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, sync_playwright
from sqlalchemy import Engine, select

from makegood.adapters import mailbox
from makegood.adapters.duckdb_engine import DuckDBEngine
from makegood.campaigns.execution import execute
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.campaigns.terms import Executed
from makegood.config import CompanySettings, Settings, WebSettings
from makegood.core.clock import FixedClock
from makegood.credits.models import Offer
from makegood.credits.service import void
from makegood.customers.service import import_customers
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.demo.scenario import Scenario
from makegood.entrypoints.app import create_app
from makegood.entrypoints.wiring import build_root
from makegood.impact.service import run_impact
from makegood.incidents.service import Declaration, declare
from makegood.messaging.sender import for_root
from makegood.policy.seed import seed_policy
from makegood.sources.service import add_source
from makegood.web.embedded import MovableClock as Clock
from makegood.web.embedded import served

ENGINE = DuckDBEngine()

HERE = Path(__file__).resolve().parent
# Signs the forms of a database that lives only as long as this script.
SECRET = "screenshots-only-secret-key-0123456789"  # noqa: S105
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}

# The demo's streaming outage: the evening of Thursday 27 March 2008 in the Americas,
# with its customer-facing summary in each language.
OUTAGE = Scenario().streaming
SENT_AT = OUTAGE.end + timedelta(hours=13)
COMPANY = CompanySettings(
    name="Example Video",
    sender="Example Video <apologies@example.com>",
    support_phones={
        "US": "1-800-555-0100",
        "DE": "0800 555 0100",
        "JP": "0120-555-010",
        "default": "+1 800 555 0100",
    },
    account_url="https://video.example.com/account",
)
# One customer per page: (id, first name, locale, zone, country, price, currency).
CUSTOMERS = [
    ("sam", "Sam", "en-US", "America/New_York", "US", "15.49", "USD"),
    ("lena", "Lena", "de-DE", "Europe/Berlin", "DE", "12.99", "EUR"),
    ("haruto", "Haruto", "ja-JP", "Asia/Tokyo", "JP", "1490", "JPY"),
    ("maya", "Maya", "en-US", "America/Chicago", "US", "15.49", "USD"),
    ("jordan", "Jordan", "en-US", "America/New_York", "US", "15.49", "USD"),
    ("priya", "Priya", "en-US", "America/Los_Angeles", "US", "15.49", "USD"),
]


def write_data(directory: Path) -> tuple[Path, Path]:
    """Customers, and one failed play each inside the outage window."""
    directory.mkdir(parents=True, exist_ok=True)
    customers, events = directory / "customers.csv", directory / "usage_events.csv"
    with customers.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "customer_id",
                "email",
                "first_name",
                "locale",
                "timezone",
                "country",
                "status",
                "plan",
                "monthly_price",
                "currency",
                "next_bill_date",
            ]
        )
        for cid, name, locale, zone, country, price, currency in CUSTOMERS:
            out.writerow(
                [
                    cid,
                    f"{cid}@example.com",
                    name,
                    locale,
                    zone,
                    country,
                    "active",
                    "standard",
                    price,
                    currency,
                    (OUTAGE.end.date() + timedelta(days=18)).isoformat(),
                ]
            )
    with events.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["customer_id", "occurred_at", "service", "outcome", "device", "region"])
        for number, (cid, *_) in enumerate(CUSTOMERS):
            at = OUTAGE.start + timedelta(minutes=10 + 7 * number)
            out.writerow([cid, at.isoformat(), "streaming", "error", "tv", "na"])
    return customers, events


def build(directory: Path) -> tuple[Engine, Settings, dict[str, str]]:
    """The company, its campaign executed and delivered: (engine, settings, links by id)."""
    url = f"sqlite:///{directory / 'makegood.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    customers, events = write_data(directory / "data")
    now = SENT_AT - timedelta(minutes=30)
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, customers, now)
        add_source(uow.session, "usage_events", str(events), now, "screenshots", check=ENGINE)
        incident = declare(
            uow.session,
            Declaration(
                services=[OUTAGE.service],
                start=OUTAGE.start,
                end=OUTAGE.end,
                title=OUTAGE.title,
                summary=OUTAGE.summary,
                summaries=dict(OUTAGE.summaries),
            ),
            now,
            "screenshots",
        )
        run_impact(uow.session, incident.id, now, "screenshots", engine=ENGINE, executed=Executed())
        campaign = plan(uow.session, incident.id, seed_policy(), Decimal(0), now, "screenshots")
        approve(uow.session, campaign.id, "screenshots", now)
        uow.commit()
    execute(engine, campaign.id, now, "screenshots", SECRET)

    sink = mailbox.start(directory / "mailbox")
    try:
        settings = Settings(
            database_url=url,
            smtp_url=f"smtp://127.0.0.1:{sink.port}",
            secret_key=SECRET,
            base_url="https://video.example.com",
            company=COMPANY,
        )
        sender = for_root(build_root(settings, FixedClock(SENT_AT), engine))
        asyncio.run(sender.run("until_empty"))
    finally:
        sink.stop()
    return engine, settings, delivered_links(directory / "mailbox")


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def delivered_links(directory: Path) -> dict[str, str]:
    """The claim link's path in each delivered email's HTML part, by customer id."""
    links = {}
    for item in mailbox.read_index(directory):
        raw = (directory / item["file"]).read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        html = message.get_body(preferencelist=("html",))
        assert html is not None
        anchors = Anchors()
        anchors.feed(html.get_content())
        claim = next(h for h in anchors.hrefs if "/claim/" in h)
        cid = item["rcpt_tos"][0].split("@")[0]
        links[cid] = urlsplit(claim).path
    return links


def offer_of(engine: Engine, cid: str) -> Offer:
    with UnitOfWork(engine) as uow:
        return uow.session.scalars(select(Offer).where(Offer.customer_id == cid)).one()


def shoot(page: Page, name: str, expected_status: int, url: str | None = None) -> None:
    """Open ``url`` (or keep the page), check its status, and save it at both sizes."""
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        response = page.goto(url) if url else page.reload()
        assert response is not None, name
        assert response.status == expected_status, (name, response.status)
        target = HERE / f"claim-{name}-{size}.png"
        page.screenshot(path=str(target), full_page=True)
        print(f"{target.name}: {expected_status}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="makegood-screenshots-") as tmp:
        engine, settings, links = build(Path(tmp))
        clock = Clock(SENT_AT + timedelta(hours=2))
        quiet = settings.model_copy(update={"web": WebSettings(claim_rate_per_minute=0)})
        strict = settings.model_copy(update={"web": WebSettings(claim_rate_per_minute=1)})
        with (
            served(create_app(quiet, clock)) as base,
            served(create_app(strict, clock)) as limited_base,
            sync_playwright() as p,
        ):
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            context = browser.new_context(locale="en-US", timezone_id="America/New_York")
            page = context.new_page()

            shoot(page, "offer", 200, base + links["sam"])
            shoot(page, "offer-de-DE", 200, base + links["lena"])
            shoot(page, "offer-ja-JP", 200, base + links["haruto"])

            # The same offer on a phone set to the dark scheme.
            dark = browser.new_context(locale="en-US", viewport=SIZES["phone"], color_scheme="dark")
            night = dark.new_page()
            night.goto(base + links["sam"])
            night.screenshot(path=str(HERE / "claim-offer-dark-phone.png"), full_page=True)
            dark.close()
            print("claim-offer-dark-phone.png: 200")

            # A form whose CSRF field no longer matches: the page a stale tab gets.
            for size, viewport in SIZES.items():
                page.set_viewport_size(viewport)
                page.goto(base + links["sam"])
                page.locator('input[name="csrf"]').evaluate("field => { field.value = 'stale' }")
                with page.expect_response(lambda r: r.request.method == "POST") as answered:
                    page.get_by_role("button").click()
                assert answered.value.status == 403, answered.value.status
                page.wait_for_load_state()
                page.screenshot(path=str(HERE / f"claim-forbidden-{size}.png"), full_page=True)
            print("claim-forbidden-*.png: 403")

            # Maya presses the button: the confirmation, then the same link the next day.
            page.set_viewport_size(SIZES["phone"])
            page.goto(base + links["maya"])
            with page.expect_navigation(url="**?claimed=1"):
                page.get_by_role("button").click()
            shoot(page, "done", 200)
            clock.instant += timedelta(days=1, hours=3)
            shoot(page, "already", 200, base + links["maya"])

            # A support agent withdraws Priya's credit.
            with UnitOfWork(engine) as uow:
                void(uow.session, offer_of(engine, "priya").id, "duplicate", clock.now(), "agent")
                uow.commit()
            shoot(page, "voided", 410, base + links["priya"])

            # A week later: Jordan never pressed the button.
            expires = offer_of(engine, "jordan").expires_at
            assert expires is not None
            clock.instant = expires + timedelta(hours=5)
            shoot(page, "expired", 410, base + links["jordan"])

            shoot(page, "unknown", 404, base + "/claim/this-link-was-never-issued")

            # Opened too often from one address: past the limit of one request a minute.
            for size, viewport in SIZES.items():
                page.set_viewport_size(viewport)
                for _ in range(3):  # a new minute may begin between two requests
                    response = page.goto(limited_base + links["sam"])
                    if response is not None and response.status == 429:
                        break
                else:
                    raise AssertionError("the limit never answered 429")
                page.screenshot(path=str(HERE / f"claim-limited-{size}.png"), full_page=True)
            print("claim-limited-*.png: 429")
            browser.close()
        engine.dispose()


if __name__ == "__main__":
    main()
