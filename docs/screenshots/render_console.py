"""Screenshots of the operators' console at a desktop's width (1360 px, full page).

    .venv/bin/python docs/screenshots/render_console.py

Builds a small subscription company in a temporary SQLite database: 160 customers in
the US, Britain, Germany, France, Spain, Brazil and Japan, paying in USD, GBP, EUR,
BRL and JPY, with their usage and shipments around the demo's two outages of March
2008. Both incidents are declared and their impact found. The streaming campaign is
approved, executed and its apologies delivered to the built-in mailbox over SMTP, and
over the following days customers claim. The shipping campaign is over its budget:
one approver has approved it and it waits for a second. Then the application is
served on 127.0.0.1 and each page is opened in Chromium by the person who would use
it. Nothing leaves the machine. Every run gives the same company and figures; the
claim links, the sender's name and the send timings differ a little.

Needs Debian's chromium at /usr/bin/chromium (or CHROMIUM=/path/to/chrome), and
fonts-noto-cjk for the Japanese letters.
"""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, sync_playwright
from sqlalchemy import Engine, select

from makegood.adapters import mailbox
from makegood.adapters.duckdb_engine import DuckDBEngine
from makegood.campaigns.execution import execute
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.campaigns.terms import Executed
from makegood.config import CompanySettings, DeliverySettings, Settings
from makegood.console.users import add_user
from makegood.credits.models import Offer
from makegood.credits.service import claim
from makegood.customers.models import Customer
from makegood.customers.service import import_customers
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.demo.scenario import Outage, Scenario
from makegood.entrypoints.app import create_app
from makegood.entrypoints.wiring import build_root
from makegood.impact.models import Impact
from makegood.impact.service import run_impact
from makegood.incidents.service import Declaration, declare
from makegood.messaging import sender as sender_module
from makegood.messaging.sender import for_root
from makegood.policy.schema import parse_policy
from makegood.policy.seed import seed_policy_text
from makegood.sources.service import add_source
from makegood.web.embedded import MovableClock as Clock
from makegood.web.embedded import served

ENGINE = DuckDBEngine()

HERE = Path(__file__).resolve().parent
# Signs the sessions and links of a database that lives only as long as this script.
SECRET = "screenshots-only-secret-key-0123456789"  # noqa: S105
PASSWORD = "screenshots-only-password"  # noqa: S105
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
DESKTOP = {"width": 1360, "height": 900}
EASTERN = ZoneInfo("America/New_York")

SCENARIO = Scenario()
SHIPPING, STREAMING = SCENARIO.shipping, SCENARIO.streaming
COMPANY = CompanySettings(
    name="Example Video",
    sender="Example Video <apologies@example.com>",
    support_phones={
        "US": "1-800-555-0100",
        "GB": "0800 555 0100",
        "DE": "0800 555 0100",
        "FR": "0 800 555 010",
        "ES": "900 555 010",
        "BR": "0800 555 0100",
        "JP": "0120-555-010",
        "default": "+1 800 555 0100",
    },
)
# People at the company: username -> (role, name).
STAFF = {
    "dana": ("approver", "Dana Whitfield"),
    "marcus": ("approver", "Marcus Chen"),
    "sofia": ("operator", "Sofia Alvarez"),
}


def eastern(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant of March 2008, given in US Eastern time."""
    return datetime(2008, 3, day, hour, minute, tzinfo=EASTERN).astimezone(UTC)


# The morning after each outage, and the moment the pages are looked at.
SHIPPING_MORNING = eastern(25, 8, 5)
STREAMING_MORNING = eastern(28, 8, 5)
LOOKED_AT = datetime(2008, 4, 1, 10, 20, tzinfo=EASTERN).astimezone(UTC)

# (weight, locale, zone, country, currency, monthly price, first names, family names)
PROFILES = [
    (
        6,
        "en-US",
        "America/New_York",
        "US",
        "USD",
        "15.49",
        "Sam Maya Jordan Ethan Olivia Noah Ava Liam Chloe Grace",
        "Carter Brooks Nguyen Patel Rivera Coleman Hayes Foster Reed Bennett",
    ),
    (
        3,
        "en-US",
        "America/Chicago",
        "US",
        "USD",
        "15.49",
        "Tyler Hannah Marcus Emily Caleb Zoe",
        "Johnson Keller Ortiz Walsh Dunn Fischer",
    ),
    (
        3,
        "en-US",
        "America/Los_Angeles",
        "US",
        "USD",
        "22.99",
        "Priya Diego Lily Owen Aria Mateo",
        "Shah Morales Kim Larsen Flores Tran",
    ),
    (
        2,
        "en-GB",
        "Europe/London",
        "GB",
        "GBP",
        "10.99",
        "Oliver Amelia Harry Isla George Freya",
        "Hughes Clarke Turner Ahmed Price Doyle",
    ),
    (
        2,
        "de-DE",
        "Europe/Berlin",
        "DE",
        "EUR",
        "13.99",
        "Lena Jonas Mia Felix Hannah Lukas",
        "Müller Schneider Becker Hoffmann Wagner Krüger",
    ),
    (
        1,
        "fr-FR",
        "Europe/Paris",
        "FR",
        "EUR",
        "13.99",
        "Chloé Louis Léa Hugo Camille",
        "Martin Bernard Dubois Moreau Lefèvre",
    ),
    (
        1,
        "es-ES",
        "Europe/Madrid",
        "ES",
        "EUR",
        "13.99",
        "Lucía Pablo Sofía Javier",
        "García Romero Navarro Torres",
    ),
    (
        1,
        "pt-BR",
        "America/Sao_Paulo",
        "BR",
        "BRL",
        "44.90",
        "Ana João Beatriz Rafael",
        "Silva Costa Oliveira Almeida",
    ),
    (
        1,
        "ja-JP",
        "Asia/Tokyo",
        "JP",
        "JPY",
        "1590",
        "Haruto Yui Sota Aoi",
        "Sato Suzuki Takahashi Tanaka",
    ),
]
CUSTOMERS = 160


@dataclass(frozen=True)
class Person:
    customer_id: str
    email: str
    first: str
    family: str
    locale: str
    zone: str
    country: str
    currency: str
    price: str
    status: str


def people(rng: random.Random) -> list[Person]:
    weighted = [p for p in PROFILES for _ in range(p[0])]
    found, taken = [], set()
    for n in range(CUSTOMERS):
        _, locale, zone, country, currency, price, firsts, families = rng.choice(weighted)
        for _ in range(20):  # a name nobody else has, if there is one left
            first, family = rng.choice(firsts.split()), rng.choice(families.split())
            if (first, family) not in taken:
                break
        taken.add((first, family))
        roll = rng.random()
        status = "cancelled" if roll < 0.04 else "paused" if roll < 0.08 else "active"
        local = f"{first}.{family}".lower().translate(str.maketrans("éèüöäíáóúã", "eeuoaiaoua"))
        address = f"{local}@example.com"
        if any(p.email == address for p in found):
            address = f"{local}.{n}@example.com"
        found.append(
            Person(
                f"C-{104200 + 7 * n}",
                address,
                first,
                family,
                locale,
                zone,
                country,
                currency,
                price,
                status,
            )
        )
    return found


def write_data(directory: Path, everyone: list[Person], rng: random.Random) -> dict[str, Path]:
    """customers.csv, usage_events.csv and shipments.csv around the two outages."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / f"{name}.csv" for name in ("customers", "usage_events", "shipments")}
    with paths["customers"].open("w", newline="", encoding="utf-8") as f:
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
        for p in everyone:
            plan_name = "premium" if p.price in ("22.99",) else "standard"
            bill = date(2008, 4, 1 + int(p.customer_id[-2:]) % 27)
            out.writerow(
                [
                    p.customer_id,
                    p.email,
                    p.first,
                    p.locale,
                    p.zone,
                    p.country,
                    p.status,
                    plan_name,
                    p.price,
                    p.currency,
                    bill.isoformat(),
                ]
            )

    window = STREAMING.end - STREAMING.start
    with paths["usage_events"].open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["customer_id", "occurred_at", "service", "outcome", "device", "region"])

        def event(p: Person, at: datetime, outcome: str) -> None:
            device = rng.choice(["tv", "tv", "mobile", "web", "console"])
            stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.writerow([p.customer_id, stamp, "streaming", outcome, device, p.country.lower()])

        for p in everyone:
            # Everyday use well away from the outage and the same hours of earlier weeks.
            for week in range(5):
                event(p, datetime(2008, 2, 25, 15, tzinfo=UTC) + timedelta(weeks=week), "ok")
            roll = rng.random()
            inside = lambda: STREAMING.start + window * rng.uniform(0.02, 0.95)  # noqa: E731
            if roll < 0.42:  # tried during the outage and failed
                for _ in range(rng.randint(1, 4)):
                    event(p, inside(), "error")
            elif roll < 0.62:  # watches at that hour most weeks; not that night
                for weeks in (1, 2):
                    event(p, inside() - timedelta(weeks=weeks), "ok")
            elif roll < 0.70:  # watched that night without trouble
                event(p, inside(), "ok")

    ship_window = SHIPPING.end - SHIPPING.start
    with paths["shipments"].open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["customer_id", "order_id", "due_at", "shipped_at"])
        for number, p in enumerate(everyone):
            if rng.random() > 0.45:
                continue
            due = SHIPPING.start + ship_window * rng.uniform(0.05, 0.9)
            roll = rng.random()  # most left late that night; some days later; some on time
            hours = rng.uniform(3, 16) if roll < 0.75 else rng.uniform(30, 70) if roll < 0.9 else -2
            shipped = due + timedelta(hours=hours)
            out.writerow(
                [
                    p.customer_id,
                    f"O-{880000 + 13 * number}",
                    due.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    shipped.strftime("%Y-%m-%dT%H:%M:%SZ"),
                ]
            )
    return paths


class Replayed:
    """March 2008 as it is replayed: a moment then, moving on in real time from when
    the clock was made."""

    def __init__(self, start: datetime) -> None:
        self.start, self.began = start, time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.began)


@contextmanager
def replayed(clock: Replayed) -> Iterator[None]:
    """The sender stamps its attempts, and the sink the mail it receives, with the
    machine's clock; while sending in the replayed March, both read the replayed one."""

    class Stamped(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return clock.now().astimezone(tz)

    saved = sender_module.wall_clock, mailbox.datetime
    sender_module.wall_clock, mailbox.datetime = clock.now, Stamped  # type: ignore[misc]
    try:
        yield
    finally:
        sender_module.wall_clock, mailbox.datetime = saved  # type: ignore[misc]


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def claim_tokens(directory: Path) -> dict[str, str]:
    """The newest claim link's token in the delivered emails, by recipient."""
    tokens = {}
    for item in mailbox.read_index(directory):
        raw = (directory / item["file"]).read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        html = message.get_body(preferencelist=("html",))
        assert html is not None
        anchors = Anchors()
        anchors.feed(html.get_content())
        for href in anchors.hrefs:
            if "/claim/" in href:
                tokens[item["rcpt_tos"][0]] = urlsplit(href).path.rsplit("/", 1)[1]
    return tokens


def deliver(engine: Engine, settings: Settings, start: datetime) -> None:
    """Send what is queued, as if at ``start``: ten a second, a few at a time (a
    message's time is stamped when its batch is taken), as a modest relay takes them."""
    clock = Replayed(start)
    paced = DeliverySettings(rate_per_second=10, batch_size=5, connections=2)
    sender = for_root(build_root(settings.model_copy(update={"delivery": paced}), clock, engine))
    with replayed(clock):
        asyncio.run(sender.run("until_empty"))


@dataclass
class World:
    engine: Engine
    settings: Settings
    shipping: int
    streaming: int
    shipping_campaign: int
    streaming_campaign: int
    featured: str  # the customer support looks up
    sample: str  # a customer whose late order has left, for the email preview
    letter_file: str  # the email shown on its own


def build(directory: Path) -> World:
    rng = random.Random(2008)  # noqa: S311 (made-up customers, the same on every run)
    url = f"sqlite:///{directory / 'makegood.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    everyone = people(rng)
    files = write_data(directory / "data", everyone, rng)
    policy_text = seed_policy_text()
    # Finance set a budget per currency for the shipping apology; this plan exceeds it.
    tight = parse_policy(
        policy_text + 'budget = { USD = "20.00", EUR = "10.00", GBP = "5.00" }\n',
        "netflix-2008.toml",
    )
    seed = parse_policy(policy_text, "netflix-2008.toml")

    with UnitOfWork(engine) as uow:
        for username, (role, name) in STAFF.items():
            add_user(uow.session, username, role, PASSWORD, eastern(1, 9), "setup", name)
        import_customers(uow.session, files["customers"], eastern(3, 9))
        add_source(
            uow.session,
            "usage_events",
            str(files["usage_events"]),
            eastern(3, 9),
            "ops",
            check=ENGINE,
        )
        add_source(
            uow.session, "shipments", str(files["shipments"]), eastern(3, 9), "ops", check=ENGINE
        )
        uow.commit()

    def incident(outage: Outage, morning: datetime, severity: str) -> int:
        with UnitOfWork(engine) as uow:
            found = declare(
                uow.session,
                Declaration(
                    services=[outage.service],
                    start=outage.start,
                    end=outage.end,
                    title=outage.title,
                    summary=outage.summary,
                    summaries=dict(outage.summaries),
                    severity=severity,
                    source_ref=f"PagerDuty #{48213 if outage.service == 'shipping' else 48377}",
                ),
                morning,
                "sofia",
            )
            uow.commit()
            incident_id = found.id
        with UnitOfWork(engine) as uow:
            run_impact(
                uow.session,
                incident_id,
                morning + timedelta(minutes=4),
                "sofia",
                engine=ENGINE,
                executed=Executed(),
            )
            uow.commit()
        return incident_id

    shipping = incident(SHIPPING, SHIPPING_MORNING, "major")
    streaming = incident(STREAMING, STREAMING_MORNING, "critical")

    # Shipping: planned over budget, approved once, waiting for a second approver.
    with UnitOfWork(engine) as uow:
        planned = plan(
            uow.session,
            shipping,
            tight,
            Decimal(0),
            SHIPPING_MORNING + timedelta(minutes=9),
            "sofia",
        )
        approve(uow.session, planned.id, "dana", SHIPPING_MORNING + timedelta(minutes=31))
        uow.commit()
        shipping_campaign = planned.id

    # Streaming: planned with a 5% holdout, approved, executed and delivered.
    with UnitOfWork(engine) as uow:
        planned = plan(
            uow.session,
            streaming,
            seed,
            Decimal(5),
            STREAMING_MORNING + timedelta(minutes=8),
            "sofia",
        )
        approve(uow.session, planned.id, "marcus", STREAMING_MORNING + timedelta(minutes=26))
        uow.commit()
        streaming_campaign = planned.id
    execute(engine, streaming_campaign, STREAMING_MORNING + timedelta(minutes=40), "sofia", SECRET)

    sink = mailbox.start(directory / "mailbox")
    try:
        settings = Settings(
            database_url=url,
            smtp_url=f"smtp://127.0.0.1:{sink.port}",
            secret_key=SECRET,
            # Plain HTTP on 127.0.0.1: the console's session cookie must not be https-only.
            base_url="http://video.example.com",
            mailbox_dir=directory / "mailbox",
            company=COMPANY,
        )
        deliver(engine, settings, STREAMING_MORNING + timedelta(minutes=41))

        # Customers claim over the next days, most of them on the first. The customer
        # support looks up was hurt by both outages, and claimed that evening.
        with UnitOfWork(engine) as uow:
            hurt_twice = sorted(
                set(
                    uow.session.scalars(
                        select(Offer.customer_id).where(Offer.campaign_id == shipping_campaign)
                    )
                )
                & set(
                    uow.session.scalars(
                        select(Offer.customer_id).where(
                            Offer.campaign_id == streaming_campaign, Offer.status == "offered"
                        )
                    )
                )
            )
        by_email = {p.email: p for p in everyone}
        by_id = {p.customer_id: p for p in everyone}
        featured = next(p for p in everyone if p.customer_id in hurt_twice and p.locale == "en-US")
        tokens = claim_tokens(directory / "mailbox")
        claimants = sorted(set(tokens) - {featured.email})
        rng.shuffle(claimants)
        for recipient in claimants[: int(len(claimants) * 0.6)]:
            hours = min(rng.expovariate(1 / 16) + 0.2, 24 * 6.5)
            at = STREAMING_MORNING + timedelta(minutes=45, hours=hours)
            with UnitOfWork(engine) as uow:
                assert claim(uow.session, tokens[recipient], at).status == "claimed"
                uow.commit()
        with UnitOfWork(engine) as uow:
            at = eastern(28, 20, 37)
            assert claim(uow.session, tokens[featured.email], at).status == "claimed"
            uow.commit()
    finally:
        sink.stop()

    with UnitOfWork(engine) as uow:
        late = uow.session.execute(
            select(Impact.customer_id, Impact.evidence)
            .where(Impact.incident_id == shipping)
            .order_by(Impact.customer_id)
        ).all()
    sample = next(
        customer_id
        for customer_id, evidence in late
        if by_id[customer_id].locale == "en-US" and '"shipped_at":"' in evidence
    )
    letter = next(
        item["file"]
        for item in mailbox.read_index(directory / "mailbox")
        if by_email[item["rcpt_tos"][0]].locale == "de-DE"
    )
    return World(
        engine,
        settings,
        shipping,
        streaming,
        shipping_campaign,
        streaming_campaign,
        featured.customer_id,
        sample,
        letter,
    )


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(base + "/console/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/incidents")


def shoot(page: Page, name: str, url: str | None = None) -> None:
    if url is not None:
        response = page.goto(url)
        assert response is not None, (name, url)
        assert response.status == 200, (name, url, response.status)
    page.wait_for_load_state("networkidle")
    # Chromium paints a sandboxed frame (an email) only once it has been on screen.
    for frame in page.locator("iframe").all():
        frame.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
    target = HERE / f"{name}.png"
    page.screenshot(path=str(target), full_page=True, animations="disabled")
    print(target.name)


def main() -> None:
    # A fixed place, so that the mailbox page names the same folder on every run.
    work = Path(tempfile.gettempdir()) / "makegood-console-screenshots"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        render(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render(work: Path) -> None:
    world = build(work)
    app = create_app(world.settings, Clock(LOOKED_AT))
    with served(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)

        def tab() -> Page:
            context = browser.new_context(
                viewport=DESKTOP, locale="en-US", timezone_id="America/New_York"
            )
            return context.new_page()

        page = tab()
        page.goto(base + "/console/login")
        page.get_by_label("Username").fill("marcus")
        shoot(page, "console-login")

        # Marcus, an approver, comes for the shipping campaign's second approval.
        sign_in(page, base, "marcus")
        shoot(page, "console-incidents")
        shoot(page, "console-incident", f"{base}/console/incidents/{world.streaming}")
        campaign = f"{base}/console/campaigns/{world.shipping_campaign}"
        shoot(page, "console-campaign", f"{campaign}?customer={world.sample}#email")
        shoot(
            page,
            "console-campaign-done",
            f"{base}/console/campaigns/{world.streaming_campaign}",
        )

        # Sofia, in support, looks a customer up and reads the mailbox.
        page = tab()
        sign_in(page, base, "sofia")
        with UnitOfWork(world.engine) as uow:
            customer = uow.session.get(Customer, world.featured)
            assert customer is not None
            address = customer.email
        page.goto(base + "/console/customers")
        page.get_by_label("Customer ID or email address").fill(address)
        page.get_by_role("button", name="Find customer").click()
        page.wait_for_url(f"**/console/customers/{world.featured}")
        page.locator("details.msg").first.evaluate("d => { d.open = true }")
        shoot(page, "console-customer")
        shoot(page, "console-mailbox", base + "/console/mailbox")
        shoot(page, "console-mailbox-message", f"{base}/console/mailbox/{world.letter_file}")
        browser.close()
    world.engine.dispose()


if __name__ == "__main__":
    main()
