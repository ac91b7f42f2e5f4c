"""Credits pushed to Stripe (localstripe, a real Stripe server, as a process): each
ledger entry one pending invoice item, exactly once, whatever is retried or lost."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from makegood.adapters.stripe_billing import StripeSink
from makegood.billing.models import BillingDelivery
from makegood.billing.ports import BillingItem
from makegood.billing.push import push
from makegood.billing.reconcile import reconcile
from makegood.billing.standing import status
from makegood.config import BillingSettings, Settings, StripeSettings
from makegood.core.money import Money
from makegood.credits.models import LedgerEntry
from makegood.credits.service import void
from makegood.customers.models import Customer
from makegood.customers.service import import_customers
from makegood.db.uow import UnitOfWork
from makegood.reports import html as html_report
from makegood.reports.schemas import ReportOut
from makegood.reports.service import incident_report
from tests.integration.test_billing import executed
from tests.support import truth as gt
from tests.support.console import as_viewer
from tests.support.stripe_server import bill_now, client, items_of, localstripe
from tests.support.world import SECRET, build_world

NOW = gt.NOW


@pytest.fixture(scope="module")
def stripe_base(tmp_path_factory):
    with localstripe(tmp_path_factory.mktemp("localstripe") / "server.log") as base:
        yield base


def _settings(base: str, **billing) -> Settings:
    stripe = StripeSettings(api_key="sk_test_makegood", api_base=base)
    return Settings(billing=BillingSettings(stripe=stripe, **billing))


def _with_billing_ids(engine, directory: Path, base: str, skip: str = "") -> dict[str, str]:
    """A Stripe customer for each customer (but those starting with ``skip``), their
    ids imported as the customers file's billing_id column."""
    api = client(base)
    source = directory / "customers.csv"
    with source.open() as fh:
        rows = list(csv.DictReader(fh))
    ids = {}
    for row in rows:
        if skip and row["customer_id"].startswith(skip):
            row["billing_id"] = ""
            continue
        made = api.v1.customers.create(params={"email": row["email"]})
        row["billing_id"] = ids[row["customer_id"]] = made.id
    again = directory / "customers_with_billing.csv"
    with again.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, [*rows[0].keys()])
        writer.writeheader()
        writer.writerows(rows)
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, again, NOW)
        uow.commit()
    return ids


def _pushed_items(base: str, ids: dict[str, str]) -> Counter[str]:
    """How many Stripe items carry each makegood_credit_id, over every customer."""
    api = client(base)
    found: Counter[str] = Counter()
    for billing_id in set(ids.values()):
        for item in items_of(api, billing_id):
            found[item["metadata"].get("makegood_credit_id", "")] += 1
    return found


def _entries(engine) -> list[LedgerEntry]:
    with UnitOfWork(engine) as uow:
        return list(uow.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)))


def test_each_credit_is_one_invoice_item_once_however_often_pushed(engine, tmp_path, stripe_base):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    ids = _with_billing_ids(engine, tmp_path, stripe_base)
    settings = _settings(stripe_base)
    entries = _entries(engine)
    assert entries

    first = push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing)
    assert (first.pushed, first.failed, first.pending) == (len(entries), 0, 0)
    again = push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing)
    assert (again.pushed, again.failed, again.pending) == (0, 0, 0)

    found = _pushed_items(stripe_base, ids)
    assert found == Counter({str(e.id): 1 for e in entries})
    # A commit lost after Stripe's answer: the entry is pending again, and the next push
    # finds the item it made instead of making another.
    lost = entries[len(entries) // 2]
    with UnitOfWork(engine) as uow:
        uow.session.execute(
            update(BillingDelivery)
            .where(BillingDelivery.entry_id == lost.id)
            .values(state="pending", external_id=None)
        )
        uow.commit()
    recovered = push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing)
    assert recovered.pushed == 1
    assert _pushed_items(stripe_base, ids) == found

    api = client(stripe_base)
    with UnitOfWork(engine) as uow:
        customer = uow.session.get(Customer, lost.customer_id)
        row = uow.session.get(BillingDelivery, (lost.id, "stripe"))
        assert customer is not None and row is not None
        [item] = [
            i
            for i in items_of(api, str(customer.billing_id))
            if i["metadata"]["makegood_credit_id"] == str(lost.id)
        ]
        assert row.external_id == item["id"]
    assert item["amount"] == -lost.amount_minor
    assert item["currency"] == lost.currency.lower()
    assert item["metadata"]["incident_id"] == str(lost.incident_id)


def test_a_customer_without_billing_id_fails_for_good_and_is_shown(
    engine, database_url, tmp_path, stripe_base
):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    _with_billing_ids(engine, tmp_path, stripe_base, skip="late")
    settings = _settings(stripe_base).model_copy(
        update={"database_url": database_url, "secret_key": SecretStr(SECRET)}
    )
    report = push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing)
    late = [e for e in _entries(engine) if e.customer_id.startswith("late")]
    assert late and report.failed == len(late)
    assert report.pushed == len(_entries(engine)) - len(late)
    with UnitOfWork(engine) as uow:
        shown = status(uow.session, "stripe")["stripe"]
    assert shown["failed"] == len(late)
    assert all("has no billing_id" in f["reason"] for f in shown["failures"])
    again = push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing)
    assert (again.pushed, again.failed) == (0, 0)  # never retried forever
    _failures_shown_in_report_and_console(engine, settings, world.shipping, late)


def test_an_unreachable_stripe_leaves_entries_pending_with_a_backoff(engine, tmp_path, stripe_base):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    _with_billing_ids(engine, tmp_path, stripe_base)
    closed = _settings("http://127.0.0.1:9", backoff_seconds=60, max_attempts=2)
    report = push(engine, StripeSink(closed), lambda: NOW, "finance", closed.billing, limit=3)
    assert (report.pushed, report.failed, report.retried) == (0, 0, 3)
    with UnitOfWork(engine) as uow:
        waiting = uow.session.scalars(
            select(BillingDelivery).where(BillingDelivery.attempts == 1)
        ).all()
    assert len(waiting) == 3
    assert all(w.state == "pending" and w.next_attempt_at is not None for w in waiting)
    assert all(w.next_attempt_at > NOW for w in waiting)  # type: ignore[operator]
    # Once the backoff has passed and Stripe answers, they go through, once.
    later = NOW.replace(hour=NOW.hour + 1)
    settings = _settings(stripe_base)
    done = push(engine, StripeSink(settings), lambda: later, "finance", settings.billing)
    assert done.pushed == len(_entries(engine)) and done.pending == 0


@pytest.mark.parametrize(
    ("amount_minor", "currency", "sent", "rounding"),
    [
        (700, "JPY", -700, 0),  # zero-decimal: whole yen
        (1235, "BHD", -1240, 5),  # three-decimal, in steps of 10 fils: half to the customer
        (1234, "BHD", -1230, -4),
        (500, "ISK", -50000, 0),  # ISO gives ISK no decimals; Stripe wants it in cents
        (449, "USD", -449, 0),
    ],
)
def test_stripe_amounts_follow_its_currency_rules(
    stripe_base, amount_minor, currency, sent, rounding
):
    api = client(stripe_base)
    customer = api.v1.customers.create(params={"email": "yen@example.com"}).id
    item = BillingItem(
        credit_id=10_000 + amount_minor,
        customer_id="c1",
        amount=Money(amount_minor, currency),
        statement_date=date(2026, 4, 1),
        incident_id=3,
        description="Credit for the outage",
        billing_id=customer,
    )
    receipt = StripeSink(_settings(stripe_base)).push(item)
    assert receipt.status == "delivered" and receipt.rounding_minor == rounding
    [made] = items_of(api, customer)
    assert (made["amount"], made["currency"]) == (sent, currency.lower())
    assert made["id"] == receipt.reference


def test_a_currency_stripe_cannot_take_fails_with_the_reason(stripe_base):
    item = BillingItem(1, "c1", Money(1000, "LYD"), date(2026, 4, 1), 3, "x", "cus_x")
    receipt = StripeSink(_settings(stripe_base)).push(item)
    assert receipt.status == "failed" and "LYD has 3 decimals" in receipt.detail


@pytest.fixture
def own_stripe(tmp_path):
    """A Stripe of this test's own: reconciling lists every item the account holds."""
    with localstripe(tmp_path / "own-localstripe.log") as base:
        yield base


def test_reconcile_finds_items_deleted_changed_or_made_behind_makegoods_back(
    engine, tmp_path, own_stripe
):
    stripe_base = own_stripe
    world = build_world(engine, tmp_path)
    executed(engine, world)
    ids = _with_billing_ids(engine, tmp_path, stripe_base)
    settings = _settings(stripe_base)
    push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing)
    entries = _entries(engine)
    with UnitOfWork(engine) as uow:
        rows = {r.entry_id: r for r in uow.session.scalars(select(BillingDelivery))}
    api = client(stripe_base)
    gone, changed = entries[0], entries[1]
    api.v1.invoice_items.delete(str(rows[gone.id].external_id))
    api.v1.invoice_items.update(str(rows[changed.id].external_id), params={"amount": -1})
    stray = api.v1.invoice_items.create(
        params={
            "customer": ids[gone.customer_id],
            "amount": -999,
            "currency": "usd",
            "metadata": {"makegood_credit_id": "987654"},
        }
    )
    with UnitOfWork(engine) as uow:
        found = reconcile(uow.session, StripeSink(settings))
    assert found.matched == len(entries) - 2
    assert [m["credit_id"] for m in found.missing] == [str(gone.id)]
    assert [(d["credit_id"], d["held"]) for d in found.different] == [
        (str(changed.id), [f"0.01 {changed.currency}"])
    ]
    assert [(u["credit_id"], u["reference"], u["amount"]) for u in found.unknown] == [
        ("987654", stray.id, "9.99")
    ]


def test_a_voided_credit_takes_back_its_pending_item_and_one_never_pushed_charges_nothing(
    engine, tmp_path, own_stripe
):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    ids = _with_billing_ids(engine, tmp_path, own_stripe, skip="late")
    settings = _settings(own_stripe)
    push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing)
    entries = _entries(engine)
    pushed = next(e for e in entries if not e.customer_id.startswith("late"))
    never = next(e for e in entries if e.customer_id.startswith("late"))  # failed: no billing_id
    for entry in (pushed, never):
        with UnitOfWork(engine) as uow:
            void(uow.session, entry.offer_id, "sent twice", NOW, "finance")
            uow.commit()
    report = push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing)
    assert (report.pushed, report.failed, report.pending) == (2, 0, 0)

    api = client(own_stripe)
    mine = items_of(api, ids[pushed.customer_id])
    assert str(pushed.id) not in [i["metadata"].get("makegood_credit_id") for i in mine]
    assert all(i["amount"] <= 0 for i in mine)  # taken back, not offset by a charge
    with UnitOfWork(engine) as uow:
        rows = {r.entry_id: r for r in uow.session.scalars(select(BillingDelivery))}
        reversal = next(
            e for e in _entries(engine) if e.kind == "reversal" and e.offer_id == never.offer_id
        )
    assert "nothing to take back" in rows[reversal.id].reason
    with UnitOfWork(engine) as uow:
        found = reconcile(uow.session, StripeSink(settings))
    assert (found.missing, found.unknown, found.different) == ([], [], [])


def test_a_voided_credit_already_invoiced_is_offset_by_a_new_item_once(
    engine, tmp_path, own_stripe
):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    ids = _with_billing_ids(engine, tmp_path, own_stripe)
    settings = _settings(own_stripe)
    push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing)
    credit = _entries(engine)[0]
    api = client(own_stripe)
    # Stripe puts the customer's pending items on their next invoice: the credit is billed.
    bill_now(api, ids[credit.customer_id])
    with UnitOfWork(engine) as uow:
        row = uow.session.get(BillingDelivery, (credit.id, "stripe"))
        assert row is not None
        invoice = api.v1.invoice_items.retrieve(str(row.external_id)).to_dict()["invoice"]
        assert invoice
        void(uow.session, credit.offer_id, "credited by phone", NOW, "finance")
        uow.commit()
    for _ in range(2):  # a second push adds no second offset
        push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing)
    reversal = next(
        e for e in _entries(engine) if e.kind == "reversal" and e.offer_id == credit.offer_id
    )
    offsets = [
        i
        for i in items_of(api, ids[credit.customer_id])
        if i["metadata"].get("makegood_credit_id") == str(reversal.id)
    ]
    assert len(offsets) == 1
    assert offsets[0]["amount"] == credit.amount_minor  # a charge that cancels the credit
    assert offsets[0]["amount"] == -reversal.amount_minor
    assert api.v1.invoice_items.retrieve(str(row.external_id)).to_dict()["invoice"] == invoice


def _failures_shown_in_report_and_console(engine, settings, incident_id, late) -> None:
    """The report (JSON and HTML), the incident page and each customer's ledger say
    which entries failed at Stripe and why, and which landed (with Stripe's id)."""
    with UnitOfWork(engine) as uow:
        report = incident_report(uow.session, incident_id, NOW)
        shown = ReportOut.of(report).billing["stripe"]
        page = html_report.render(report)
        delivered = uow.session.scalars(
            select(BillingDelivery).where(BillingDelivery.state == "delivered").limit(1)
        ).one()
        landed = uow.session.get(LedgerEntry, delivered.entry_id)
    mine = [e for e in late if e.incident_id == incident_id]
    assert mine and shown.failed == len(mine)
    assert {f.entry_id for f in shown.failures} == {e.id for e in mine}
    assert "On the bill" in page and "has no billing_id" in page
    failed = mine[0]
    with as_viewer(engine, settings, NOW) as web:
        incident = web.get(f"/console/incidents/{incident_id}").text
        assert "On the bill" in incident and f"#{failed.id}" in incident
        assert "has no billing_id" in incident
        customer = web.get(f"/console/customers/{failed.customer_id}").text
        assert "stripe: failed" in customer and "has no billing_id" in customer
        assert landed is not None
        other = web.get(f"/console/customers/{landed.customer_id}").text
        assert "stripe: delivered" in other and str(delivered.external_id) in other
