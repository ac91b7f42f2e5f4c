"""The claim page and the operators' console in a real browser: Debian's Chromium
driven by Playwright, against the application served by uvicorn, opening the links in
emails a real SMTP server received. The console is served with its built-in sender, on
a database of its own (the ``console`` fixture).

These tests run in a pytest process of their own (`make test` starts one): the
Playwright driver keeps an event loop running for the whole session, which breaks
asyncio tests that run after it in the same process. Collected together with other
tests, they are deselected with a note saying so.

SQLite only: the pages are the same on either database, and running them on both
doubles the time (about 22 s on each here). The claim on PostgreSQL, concurrency
included, is covered over HTTP by tests/integration/test_claim_page.py, and the
console by tests/integration/test_console_*.py.
"""

from __future__ import annotations

import asyncio
import email.message
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from sqlalchemy import Engine, func, select, update

from makegood.adapters import mailbox
from makegood.config import WebSettings
from makegood.console.users import add_user
from makegood.credits.models import LedgerEntry, Offer
from makegood.customers.models import Customer
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from tests.support import truth as gt
from tests.support.delivery import SENT_AT, Sink, executed, send, settings
from tests.support.server import MovableClock, served
from tests.support.world import World, build_world

HERE = Path(__file__).resolve().parent
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
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
OPENED_AT = SENT_AT + timedelta(hours=1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep browser tests out of a run that also holds other tests (see above)."""
    ours = [item for item in items if HERE in item.path.parents]
    if not ours or len(ours) == len(items):
        return
    config.hook.pytest_deselected(items=ours)
    items[:] = [item for item in items if item not in ours]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"tests/browser: {len(ours)} browser tests deselected; they need a pytest "
            "process of their own: pytest tests/browser (make test runs both)",
            yellow=True,
        )


class Anchors(HTMLParser):
    """Every ``<a href>`` of an HTML document, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


@dataclass(frozen=True)
class Emailed:
    """A claim link as delivered: the ``href`` of the email's button, and to whom."""

    recipient: str
    href: str

    @property
    def token(self) -> str:
        return urlsplit(self.href).path.rsplit("/", 1)[1]


def claim_link(message: email.message.EmailMessage) -> str | None:
    """The claim link an email's HTML part points to, checked against its text part."""
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    assert html is not None and text is not None
    anchors = Anchors()
    anchors.feed(html.get_content())
    claims = [href for href in anchors.hrefs if "/claim/" in urlsplit(href).path]
    if not claims:
        return None
    assert len(set(claims)) == 1, f"one email, several claim links: {claims}"
    assert claims[0] in text.get_content(), "the text part carries another link"
    return claims[0]


@dataclass
class Site:
    """The served application, its clock, its database, and the links emailed."""

    engine: Engine
    base: str
    clock: MovableClock
    unused: list[Emailed] = field(default_factory=list)

    def url(self, link: Emailed) -> str:
        """The emailed link with only its scheme and host moved to the test server."""
        server = urlsplit(self.base)
        return urlsplit(link.href)._replace(scheme=server.scheme, netloc=server.netloc).geturl()

    def take(self, locale: str | None = None) -> Emailed:
        """A link nobody has opened yet in this run; its customer reads ``locale``."""
        assert self.unused, "the world delivered too few claim links for these tests"
        link = self.unused.pop(0)
        if locale is not None:
            with UnitOfWork(self.engine) as uow:
                uow.session.execute(
                    update(Customer).where(Customer.email == link.recipient).values(locale=locale)
                )
                uow.commit()
        return link

    def offer(self, link: Emailed) -> Offer:
        with UnitOfWork(self.engine) as uow:
            offer = uow.session.scalars(
                select(Offer)
                .join(Customer, Customer.customer_id == Offer.customer_id)
                .where(Customer.email == link.recipient)
            ).one()
            uow.session.expunge(offer)
            return offer

    def customer(self, link: Emailed) -> Customer:
        with UnitOfWork(self.engine) as uow:
            customer = uow.session.scalars(
                select(Customer).where(Customer.email == link.recipient)
            ).one()
            uow.session.expunge(customer)
            return customer

    def credits(self, link: Emailed) -> int:
        """Ledger entries for the link's offer."""
        offer_id = self.offer(link).id
        with UnitOfWork(self.engine) as uow:
            return int(
                uow.session.scalar(
                    select(func.count())
                    .select_from(LedgerEntry)
                    .where(LedgerEntry.offer_id == offer_id)
                )
                or 0
            )


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The streaming campaign executed, its emails delivered over SMTP, the app served."""
    directory = tmp_path_factory.mktemp("claim-browser")
    database_url = f"sqlite:///{directory / 'makegood.db'}"
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    world = build_world(engine, directory / "data")
    handler = Sink(directory / "mailbox")
    controller = mailbox.start(handler.directory, handler=handler)
    try:
        executed(engine, world.streaming)
        config = settings(database_url, controller.port)
        send(engine, config)
        emailed = []
        for item in handler.received():
            href = claim_link(handler.open(item))
            if href is not None:
                emailed.append(Emailed(item["rcpt_tos"][0], href))
    finally:
        controller.stop()
    assert emailed, "the claim campaign delivered no links"

    clock = MovableClock(OPENED_AT)
    app = create_app(config.model_copy(update={"web": WebSettings(claim_rate_per_minute=0)}), clock)
    with served(app) as base:
        yield Site(engine, base, clock, emailed)
    engine.dispose()


@pytest.fixture(autouse=True)
def _clock_back(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts an hour after the emails went out, whatever the last one did."""
    yield
    if "site" in request.fixturenames:
        request.getfixturevalue("site").clock.instant = OPENED_AT


@pytest.fixture(scope="session")
def playwright(site: Site) -> Iterator[Playwright]:
    # After `site`: the emails are sent with asyncio.run, which cannot start once the
    # Playwright driver's loop is running.
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set CHROMIUM")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh phone-sized tab in a fresh profile; a screenshot is kept if the test fails."""
    context = browser.new_context(viewport=PHONE, locale="en-US")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and not tab.is_closed():
        shot = tmp_path / "failure.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failed page: {shot}")
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# ---------------------------------------------------------------- the operators' console

CONSOLE_PASSWORD = "a-long-console-password"
# username -> (role, display name)
CONSOLE_USERS = {
    "ava": ("approver", "Ava Lindqvist"),
    "ben": ("approver", "Ben Okafor"),
    "olivia": ("operator", "Olivia Park"),
}
# The console is served over plain HTTP here: the session cookie must not be https-only.
CONSOLE_BASE_URL = "http://video.example.test"


class HeldSink(Sink):
    """The SMTP sink, holding every message until the test lets mail through: a page
    loaded just after Execute is then certain to show sending under way."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.released = threading.Event()

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        while not self.released.is_set():
            await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


@dataclass
class Console:
    """The console served with its built-in sender, over a world of its own."""

    engine: Engine
    base: str
    world: World
    sink: HeldSink
    locales: dict[str, str]  # customer id -> a locale other than en-US

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """Both seed incidents with their impact found and no campaign yet, three console
    users, and the application served with its sender and a real SMTP sink."""
    directory = tmp_path_factory.mktemp("console-browser")
    database_url = f"sqlite:///{directory / 'makegood.db'}"
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    world = build_world(engine, directory / "data")
    with UnitOfWork(engine) as uow:
        for username, (role, name) in CONSOLE_USERS.items():
            add_user(uow.session, username, role, CONSOLE_PASSWORD, gt.NOW, "setup", name)
        # Two customers hurt by the late shipments read German and Japanese.
        late = sorted(c for c in world.truth.shipping_confirmed if c.startswith("late"))
        locales = {late[0]: "de-DE", late[1]: "ja-JP"}
        for customer_id, locale in locales.items():
            uow.session.execute(
                update(Customer).where(Customer.customer_id == customer_id).values(locale=locale)
            )
        uow.commit()
    handler = HeldSink(directory / "mailbox")
    controller = mailbox.start(handler.directory, handler=handler)
    config = settings(database_url, controller.port).model_copy(
        update={"base_url": CONSOLE_BASE_URL, "mailbox_dir": handler.directory}
    )
    app = create_app(config, MovableClock(gt.NOW), with_worker=True)
    try:
        with served(app, lifespan=True) as base:
            try:
                yield Console(engine, base, world, handler, locales)
            finally:
                handler.released.set()  # the sender finishes before the server stops
    finally:
        controller.stop()
        engine.dispose()
