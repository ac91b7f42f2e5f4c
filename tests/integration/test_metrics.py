"""GET /metrics over real HTTP after a real campaign: both seed campaigns executed,
their emails delivered to a real SMTP server, one claim link pressed. The figures
are read back with prometheus_client's own parsers, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from makegood.config import Settings, WebSettings
from makegood.credits.models import LedgerEntry, Offer
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.incidents.service import Declaration, declare
from makegood.messaging.models import DeliveryAttempt, Message
from makegood.web.ops import instrument
from tests.support.claims import delivered_links
from tests.support.delivery import SENT_AT, executed, send, settings
from tests.support.server import MovableClock, served
from tests.support.world import SECRET

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str, parse=text_string_to_metric_families) -> Samples:
    """Every sample by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in parse(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


@pytest.fixture
def after_campaigns(engine, database_url, world, sink):
    """Both seed campaigns executed and sent, one streaming offer claimed over HTTP and
    one incident still open: (served base URL, config, the claimed offer's id)."""
    handler, port = sink
    executed(engine, world.shipping)  # automatic credits
    executed(engine, world.streaming)  # claim links
    handler.refuse = refusing_one_for_good_and_one_once()
    config = settings(database_url, port)
    counts = send(engine, config)
    assert counts.sent == len(handler.received()) > 0
    assert counts.failed == 1
    with UnitOfWork(engine) as uow:
        declare(
            uow.session,
            Declaration(
                services=["streaming"], start=SENT_AT, end=None, title="Playback errors again"
            ),
            SENT_AT,
            "t",
        )
        uow.commit()
    link = delivered_links(handler)[0]
    app = create_app(
        config.model_copy(update={"web": WebSettings(claim_rate_per_minute=0)}),
        MovableClock(SENT_AT + timedelta(hours=1)),
    )
    instrument(app)
    instrument(app)  # a second call changes nothing: requests are counted once
    with served(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        csrf = CSRF.search(client.get(link.path).text).group(1)
        assert client.post(link.path, data={"csrf": csrf}).status_code == 303
        with UnitOfWork(engine) as uow:
            claimed = uow.session.scalars(select(Offer).where(Offer.status == "claimed")).one()
        yield base, config, claimed.id, handler


def refusing_one_for_good_and_one_once():
    """The relay refuses the first address it sees for good (550), and the second
    address's first try for now (451)."""
    verdicts: dict[str, str] = {}

    def refuse(envelope):
        address = str(envelope.rcpt_tos[0])
        if address not in verdicts and len(verdicts) < 2:
            verdicts[address] = (
                "451 4.3.0 Try again later" if verdicts else "550 5.1.1 No such user"
            )
            return verdicts[address]
        return verdicts[address] if verdicts.get(address, "").startswith("550") else None

    return refuse


def expected_from_rows(engine) -> Samples:
    """The business figures counted in Python from every row, without GROUP BY."""
    with UnitOfWork(engine) as uow:
        s = uow.session
        messages = Counter(s.scalars(select(Message.status)))
        attempts = Counter(s.scalars(select(DeliveryAttempt.outcome)))
        offers = list(s.execute(select(Offer.status, Offer.claimed_at)))
        ledger = list(
            s.execute(select(LedgerEntry.currency, LedgerEntry.kind, LedgerEntry.amount_minor))
        )
    credits: defaultdict[tuple[str, str], int] = defaultdict(int)
    for currency, kind, amount in ledger:
        credits[(currency, kind)] += abs(amount)
    found: Samples = {}
    for status in ("queued", "sending", "sent", "retrying", "failed", "suppressed"):
        found[("makegood_messages", frozenset({("status", status)}))] = messages[status]
    found[("makegood_queue_depth", frozenset())] = sum(
        messages[s] for s in ("queued", "retrying", "sending")
    )
    for outcome in ("sent", "retry", "failed", "suppressed"):
        key = ("makegood_delivery_attempts_total", frozenset({("outcome", outcome)}))
        found[key] = attempts[outcome]
    by_status = Counter(status for status, _ in offers)
    for status in ("planned", "held_out", "granted", "offered", "claimed", "expired", "voided"):
        found[("makegood_offers", frozenset({("status", status)}))] = by_status[status]
    found[("makegood_claims_total", frozenset())] = sum(1 for _, at in offers if at is not None)
    for (currency, kind), total in credits.items():
        labels = frozenset({("currency", currency), ("kind", kind)})
        found[("makegood_credits_minor_total", labels)] = total
    return found


def test_metrics_show_the_campaigns_delivery_and_claim(engine, after_campaigns):
    base, _, claimed_id, handler = after_campaigns
    answer = httpx.get(base + "/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    found = samples(answer.text)

    # The right figures, as the rows themselves count them ...
    expected = expected_from_rows(engine)
    assert {k: found.get(k) for k in expected} == expected
    # ... and as the world outside saw them.
    received = len(handler.received())
    assert value(found, "makegood_messages", status="sent") == received
    assert value(found, "makegood_delivery_attempts_total", outcome="sent") == received
    assert value(found, "makegood_messages", status="failed") == 1
    assert value(found, "makegood_delivery_attempts_total", outcome="failed") == 1
    assert value(found, "makegood_delivery_attempts_total", outcome="retry") == 1
    assert value(found, "makegood_queue_depth") == 0
    assert value(found, "makegood_offers", status="claimed") == 1
    assert value(found, "makegood_claims_total") == 1
    assert value(found, "makegood_incidents_open") == 1
    assert value(found, "makegood_database_up") == 1
    with UnitOfWork(engine) as uow:
        claimed = uow.session.get(Offer, claimed_id)
        granted = list(uow.session.scalars(select(Offer).where(Offer.status == "granted")))
    assert granted, "the shipping campaign granted no credits"
    assert (
        value(found, "makegood_credits_minor_total", currency=claimed.currency, kind="claim")
        == claimed.amount_minor
    )
    for currency in {o.currency for o in granted}:
        assert value(found, "makegood_credits_minor_total", currency=currency, kind="grant") == sum(
            o.amount_minor for o in granted if o.currency == currency
        )


def test_requests_are_counted_by_route_template_never_by_token(after_campaigns):
    base, _, _, _ = after_campaigns
    text = httpx.get(base + "/metrics").text
    found = samples(text)
    claim = "/claim/{token}"
    assert (
        value(found, "makegood_http_requests_total", method="POST", route=claim, status="303") == 1
    )
    assert (
        value(found, "makegood_http_requests_total", method="GET", route=claim, status="200") == 1
    )
    assert (
        value(found, "makegood_http_request_duration_seconds_count", method="GET", route=claim) == 1
    )
    assert "/claim/" not in text.replace(claim, "")  # no token in any label
    httpx.get(base + "/no/such/page")
    again = samples(httpx.get(base + "/metrics").text)
    assert (
        value(again, "makegood_http_requests_total", method="GET", route="unmatched", status="404")
        == 1
    )
    # The first scrape was answered before it could count itself; the second sees it.
    assert (
        value(again, "makegood_http_requests_total", method="GET", route="/metrics", status="200")
        == 1
    )


def test_another_process_reports_the_same_business_figures(engine, after_campaigns):
    base, config, _, _ = after_campaigns
    first = samples(httpx.get(base + "/metrics").text)
    other = create_app(config, MovableClock(SENT_AT))
    with served(other) as other_base:
        second = samples(httpx.get(other_base + "/metrics").text)
    business = [k for k in first if k[0].startswith("makegood_") and "http" not in k[0]]
    business = [k for k in business if k[0] != "makegood_metrics_read_seconds"]
    assert {k: second[k] for k in business} == {k: first[k] for k in business}
    assert not any(k[0].startswith("makegood_http") for k in second)  # its own, none yet


def test_openmetrics_when_the_scraper_asks_for_it(after_campaigns):
    base, _, _, _ = after_campaigns
    answer = httpx.get(base + "/metrics", headers={"Accept": "application/openmetrics-text"})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    found = samples(answer.text, openmetrics_families)
    assert value(found, "makegood_claims_total") == 1


def test_an_unreachable_database_is_reported_not_raised(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "makegood.db"
    config = Settings(database_url=f"sqlite:///{missing}", secret_key=SECRET)
    app = create_app(config, MovableClock(datetime(2026, 3, 12, tzinfo=UTC)))
    with served(app) as base:
        answer = httpx.get(base + "/metrics")
    assert answer.status_code == 200
    found = samples(answer.text)
    assert value(found, "makegood_database_up") == 0
    assert not any(k[0] == "makegood_messages" for k in found)


def test_a_claim_link_past_its_deadline_counts_as_expired_as_the_report_counts_it(
    engine, after_campaigns
):
    """Nothing rewrites an offer when its deadline passes: /metrics must still call it
    expired, as the report does, and the two agree on every status."""
    from makegood.incidents.models import Incident
    from makegood.reports.service import incident_report

    _, config, _, _ = after_campaigns
    now = SENT_AT + timedelta(days=2)
    with UnitOfWork(engine) as uow:
        still = list(uow.session.scalars(select(Offer).where(Offer.status == "offered")))
        assert len(still) >= 3, "too few open claim links to let one lapse"
        lapsed, on_the_dot = still[0], still[1]
        lapsed.expires_at = now - timedelta(hours=1)
        on_the_dot.expires_at = now  # the claim needs a deadline still ahead: this one is past
        stored = Counter(uow.session.scalars(select(Offer.status)))
        incidents = list(uow.session.scalars(select(Incident.id)))
        uow.commit()
    with served(create_app(config, MovableClock(now))) as base:
        found = samples(httpx.get(base + "/metrics").text)

    assert value(found, "makegood_offers", status="offered") == stored["offered"] - 2
    assert value(found, "makegood_offers", status="expired") == stored["expired"] + 2
    with UnitOfWork(engine) as uow:
        reported: Counter[str] = Counter()
        for incident in incidents:
            for by_status in incident_report(uow.session, incident, now).offers.values():
                reported.update(by_status)
    for status in ("planned", "held_out", "granted", "offered", "claimed", "expired", "voided"):
        assert value(found, "makegood_offers", status=status) == reported[status], status
