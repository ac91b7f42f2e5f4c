"""Export files and pushes side by side: each entry goes to each sink once and into
one export file, as the contracts say, and when a company's files went to the same
billing system a push can leave out what they held (and an export what was pushed);
a failed entry is pushed again only when asked, never a credit voided meanwhile.
Against localstripe, a real Stripe server, as a process."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy import select

from makegood.adapters.stripe_billing import StripeSink
from makegood.billing.models import BillingDelivery
from makegood.billing.ports import BillingItem
from makegood.billing.push import push
from makegood.billing.reconcile import reconcile
from makegood.billing.service import export
from makegood.core.money import Money
from makegood.credits.service import void
from makegood.db.uow import UnitOfWork
from tests.integration.test_billing import executed, read, run_export
from tests.integration.test_stripe_push import (
    NOW,
    _entries,
    _pushed_items,
    _settings,
    _with_billing_ids,
)
from tests.support.ports import sink
from tests.support.stripe_server import client, items_of, localstripe
from tests.support.world import build_world


@pytest.fixture
def stripe_base(tmp_path):
    with localstripe(tmp_path / "localstripe.log") as base:
        yield base


def _push(engine, settings, **options):
    return push(engine, StripeSink(settings), lambda: NOW, "finance", settings.billing, **options)


def test_entries_in_an_export_file_are_pushed_and_counted_unless_skipped(
    engine, tmp_path, stripe_base
):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    ids = _with_billing_ids(engine, tmp_path, stripe_base)
    settings = _settings(stripe_base)
    entries = _entries(engine)
    filed = {int(r["credit_id"]) for r in read(run_export(engine, tmp_path / "b1.csv").path)}
    assert filed and len(filed) == len(entries)
    # One more entry after the file: a void's reversal, which goes to Stripe first.
    with UnitOfWork(engine) as uow:
        void(uow.session, entries[0].offer_id, "sent twice", NOW, "finance")
        uow.commit()

    skipped = _push(engine, settings, skip_exported=True)
    assert (skipped.pushed, skipped.exported) == (1, len(filed))
    assert sum(_pushed_items(stripe_base, ids).values()) == 0  # the credit was never there
    report = _push(engine, settings)
    assert (report.pushed, report.failed, report.pending) == (len(filed), 0, 0)
    assert report.exported == len(filed)  # counted, for the command's warning
    # The voided credit, reaching the push after its reversal, puts nothing on the bill.
    assert _pushed_items(stripe_base, ids) == Counter({str(e.id): 1 for e in entries[1:]})
    with UnitOfWork(engine) as uow:
        voided = uow.session.get(BillingDelivery, (entries[0].id, "stripe"))
        assert voided is not None and voided.external_id is None
        assert "voided before it reached this billing system" in voided.reason
        found = reconcile(uow.session, StripeSink(settings))
    assert (found.missing, found.unknown, found.different) == ([], [], [])


def test_entries_pushed_are_exported_too_unless_skipped(engine, tmp_path, stripe_base):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    _with_billing_ids(engine, tmp_path, stripe_base, skip="late")
    settings = _settings(stripe_base)
    report = _push(engine, settings)
    late = {e.id for e in _entries(engine) if e.customer_id.startswith("late")}
    assert late and report.failed == len(late)

    # Only the failed entries go by a file meant for the same system.
    with UnitOfWork(engine) as uow:
        out = export(uow.session, tmp_path / "a.csv", sink("csv"), NOW, "f", skip_pushed=True)
        uow.commit()
    out.finish()
    assert {int(r["credit_id"]) for r in read(out.path)} == late
    # The rest still go into the next file, once: every credit is exported once.
    rest = run_export(engine, tmp_path / "books.csv")
    assert rest.exported == len(_entries(engine)) - len(late)
    assert run_export(engine, tmp_path / "again.csv").exported == 0


def test_failed_entries_are_pushed_again_when_asked_but_never_a_voided_credit(
    engine, tmp_path, stripe_base
):
    world = build_world(engine, tmp_path)
    executed(engine, world)
    _with_billing_ids(engine, tmp_path, stripe_base, skip="late")
    settings = _settings(stripe_base)
    first = _push(engine, settings)
    late = [e for e in _entries(engine) if e.customer_id.startswith("late")]
    assert len(late) >= 2 and first.failed == len(late)
    voided = late[0]
    with UnitOfWork(engine) as uow:
        void(uow.session, voided.offer_id, "sent twice", NOW, "finance")
        uow.commit()
    assert _push(engine, settings).pushed == 1  # the reversal: nothing to take back

    ids = _with_billing_ids(engine, tmp_path, stripe_base)  # billing_id imported at last
    assert (_push(engine, settings).pushed, _push(engine, settings).failed) == (0, 0)
    again = _push(engine, settings, retry_failed=True)
    assert (again.requeued, again.pushed, again.failed) == (len(late) - 1, len(late) - 1, 0)
    assert _push(engine, settings, retry_failed=True).requeued == 0

    found = _pushed_items(stripe_base, ids)
    assert all(found[str(e.id)] == 1 for e in late[1:])
    assert found[str(voided.id)] == 0
    with UnitOfWork(engine) as uow:
        row = uow.session.get(BillingDelivery, (voided.id, "stripe"))
        assert row is not None and row.state == "failed"
        assert "has no billing_id" in row.reason
        done = uow.session.scalars(
            select(BillingDelivery).where(BillingDelivery.entry_id == late[1].id)
        ).one()
        assert done.state == "delivered" and done.external_id
        found_there = reconcile(uow.session, StripeSink(settings))
    assert (found_there.missing, found_there.different) == ([], [])


def test_a_credit_that_is_zero_in_stripes_steps_puts_nothing_on_the_bill(stripe_base):
    api = client(stripe_base)
    customer = api.v1.customers.create(params={"email": "fils@example.com"}).id
    item = BillingItem(77, "c1", Money(4, "BHD"), date(2026, 4, 1), 3, "Credit", customer)
    receipt = StripeSink(_settings(stripe_base)).push(item)
    assert (receipt.status, receipt.reference, receipt.rounding_minor) == ("delivered", None, -4)
    assert "0.004 BHD is 0 in Stripe's steps" in receipt.detail
    assert items_of(api, customer) == []
