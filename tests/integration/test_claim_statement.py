"""Claiming an offer by its token: on PostgreSQL one statement (the conditional update,
the ledger entry and the audit entry together), elsewhere a few; both must agree on
everything they write, on the statement the credit lands on, and on exactly one credit
however many claims race."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from makegood.audit.models import AuditEntry
from makegood.core.tokens import hash_token
from makegood.credits import service
from makegood.credits.models import ClaimToken, LedgerEntry, Offer
from makegood.credits.rules import statement_date
from makegood.credits.service import claim
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from makegood.incidents.service import Declaration, declare

NOW = datetime(2026, 3, 12, 12, tzinfo=UTC)
FAR = datetime(2031, 1, 1, tzinfo=UTC)

# Zones from UTC-11 to UTC+14 (and a half-hour one), so "today" differs from UTC's.
ZONES = (
    "Pacific/Pago_Pago",
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
)
# Month ends, the day itself, the days around it, leap days, bills months in the past.
BILLS = (
    date(2026, 3, 12),
    date(2026, 3, 11),
    date(2026, 3, 13),
    date(2026, 1, 31),
    date(2026, 1, 30),
    date(2026, 2, 28),
    date(2025, 12, 31),
    date(2025, 5, 31),
    date(2024, 2, 29),
    date(2023, 8, 15),
)
MOMENTS = (
    NOW,
    datetime(2026, 3, 31, 23, 30, tzinfo=UTC),
    datetime(2026, 2, 28, 23, 30, tzinfo=UTC),
    datetime(2028, 2, 29, 10, 0, tzinfo=UTC),
    datetime(2026, 4, 30, 12, 0, tzinfo=UTC),
)


def make_offers(engine: Engine, specs: list[tuple[str, date]], status: str = "offered") -> int:
    """One customer and one claimable offer per (zone, next bill date); the offer with
    index i has the claim token ``f"token-{i}"``. Returns the incident's id."""
    with UnitOfWork(engine) as uow:
        incident = declare(
            uow.session,
            Declaration(
                services=["streaming"],
                start=NOW - timedelta(days=2),
                end=NOW - timedelta(days=1),
                title="Streaming outage",
            ),
            NOW,
            "t",
        )
        uow.session.flush()
        for i, (zone, bill) in enumerate(specs):
            uow.session.add(
                Customer(
                    customer_id=f"c{i:04d}",
                    email=f"c{i}@example.com",
                    first_name="Sam",
                    locale="en-US",
                    timezone=zone,
                    country="US",
                    status="active",
                    plan="standard",
                    monthly_price_minor=1000 + i,
                    currency="JPY" if i % 3 == 0 else "USD",
                    next_bill_date=bill,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            uow.session.add(
                Offer(
                    id=i + 1,
                    campaign_id=1,
                    incident_id=incident.id,
                    customer_id=f"c{i:04d}",
                    status=status,
                    mode="claim",
                    rule="sorry",
                    amount_minor=20 + i,
                    currency="JPY" if i % 3 == 0 else "USD",
                    claim_days=7,
                    expires_at=FAR,
                )
            )
            uow.session.add(ClaimToken(token_hash=hash_token(f"token-{i}"), offer_id=i + 1))
        uow.commit()
        return incident.id


def count(engine: Engine, model: type, *where: object) -> int:
    with UnitOfWork(engine) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model).where(*where)))


def test_the_credit_lands_on_the_statement_the_rules_say(engine):
    cases = list(itertools.product(ZONES, BILLS, MOMENTS))
    make_offers(engine, [(zone, bill) for zone, bill, _ in cases])
    for i, (_, _, moment) in enumerate(cases):
        with UnitOfWork(engine) as uow:
            assert claim(uow.session, f"token-{i}", moment).status == "claimed"
            uow.commit()
    with UnitOfWork(engine) as uow:
        ledger = dict(
            uow.session.execute(select(LedgerEntry.offer_id, LedgerEntry.statement_date)).all()
        )
        offers = dict(uow.session.execute(select(Offer.id, Offer.statement_date)).all())
    wrong = []
    for i, (zone, bill, moment) in enumerate(cases):
        expected = statement_date(bill, moment, zone)
        if ledger[i + 1] != expected or offers[i + 1] != expected:
            wrong.append((zone, bill, moment, expected, ledger[i + 1], offers[i + 1]))
    assert wrong == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_one_statement_writes_what_the_portable_claim_writes(engine):
    make_offers(engine, [("America/New_York", date(2026, 1, 31))] * 2)
    with UnitOfWork(engine) as uow:
        one = claim(uow.session, "token-0", NOW, actor="customer")
        other = service._claim_portable(uow.session, hash_token("token-1"), NOW, "customer")
        uow.commit()
    assert (one.status, other.status) == ("claimed", "claimed")
    assert one.expires_at == other.expires_at == FAR
    assert one.claimed_at == other.claimed_at == NOW
    assert (one.amount_minor, one.currency) == (20, "JPY")
    with UnitOfWork(engine) as uow:
        credits = {
            e.offer_id: e
            for e in uow.session.scalars(select(LedgerEntry).order_by(LedgerEntry.offer_id))
        }
        audits = {
            int(a.object_id): a
            for a in uow.session.scalars(
                select(AuditEntry).where(AuditEntry.object_type == "offer")
            )
        }
        offers = {o.id: o for o in uow.session.scalars(select(Offer))}

    def written(offer_id: int) -> tuple[object, ...]:
        e, a, o = credits[offer_id], audits[offer_id], offers[offer_id]
        return (
            e.kind,
            e.statement_date,
            e.created_at,
            e.description,
            e.incident_id,
            a.at,
            a.actor,
            a.action,
            a.before,
            a.after,
            o.status,
            o.claimed_at,
            o.statement_date,
        )

    assert written(1) == written(2)
    assert written(1)[:4] == ("claim", date(2026, 3, 31), NOW, "Credit: Streaming outage")
    assert audits[1].after == {"status": "claimed", "statement_date": "2026-03-31"}
    assert (credits[1].amount_minor, credits[1].currency, credits[1].customer_id) == (
        20,
        "JPY",
        "c0000",
    )


@pytest.mark.parametrize("autocommit", [False, True], ids=["in a transaction", "autocommit"])
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_twenty_threads_racing_the_one_statement_make_one_credit(engine, autocommit):
    make_offers(engine, [("Europe/London", date(2026, 4, 1))])
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def press() -> None:
        try:
            barrier.wait()
            with UnitOfWork(engine) as uow:
                if autocommit:  # as the claim page runs it
                    uow.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                outcomes.append(claim(uow.session, "token-0", NOW).status)
                uow.commit()
        except BaseException as exc:
            errors.append(exc)

    # At most 15 connections (the pool's 5 and 10 more): some presses wait for one.
    engine.pool.dispose()
    threads = [threading.Thread(target=press) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Counter(outcomes) == Counter({"claimed": 1, "already_claimed": 19})
    assert count(engine, LedgerEntry) == 1
    assert count(engine, AuditEntry, AuditEntry.action == "offer.claimed") == 1
    with UnitOfWork(engine) as uow:
        total = uow.session.scalar(select(func.sum(LedgerEntry.amount_minor)))
    assert total == 20


def test_claims_that_cannot_happen_write_nothing(engine):
    make_offers(engine, [("Asia/Kolkata", date(2026, 4, 1))] * 4)
    with UnitOfWork(engine) as uow:
        uow.session.execute(update(Offer).where(Offer.id == 2).values(status="voided"))
        uow.session.execute(update(Offer).where(Offer.id == 3).values(status="granted"))
        uow.commit()
    with UnitOfWork(engine) as uow:
        late = claim(uow.session, "token-0", FAR)
        voided = claim(uow.session, "token-1", NOW)
        granted = claim(uow.session, "token-2", NOW)
        unknown = claim(uow.session, "no-such-token", NOW)
        uow.commit()
    assert (late.status, late.offer_id, late.expires_at) == ("expired", 1, FAR)
    assert (voided.status, voided.offer_id) == ("voided", 2)
    assert granted.status == "unknown"
    assert unknown.status == "unknown"
    assert count(engine, LedgerEntry) == 0
    assert count(engine, AuditEntry, AuditEntry.action == "offer.claimed") == 0
    with UnitOfWork(engine) as uow:
        first = claim(uow.session, "token-3", NOW)
        again = claim(uow.session, "token-3", NOW + timedelta(hours=1))
        uow.commit()
    assert first.status == "claimed"
    assert (again.status, again.claimed_at) == ("already_claimed", NOW)
    assert count(engine, LedgerEntry) == 1


def test_a_claim_in_a_transaction_rolled_back_leaves_nothing(engine):
    make_offers(engine, [("Europe/London", date(2026, 4, 1))])
    with UnitOfWork(engine) as uow:
        assert claim(uow.session, "token-0", NOW).status == "claimed"
        # no commit: the unit of work rolls back
    assert count(engine, LedgerEntry) == 0
    assert count(engine, AuditEntry, AuditEntry.action == "offer.claimed") == 0
    assert count(engine, Offer, Offer.status == "offered") == 1
    with UnitOfWork(engine) as uow:
        assert claim(uow.session, "token-0", NOW).status == "claimed"
        uow.commit()
    assert count(engine, LedgerEntry) == 1
