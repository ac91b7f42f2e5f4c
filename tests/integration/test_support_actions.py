"""Support's use cases on real SQLite and PostgreSQL: a claim email sent again with a
fresh link (delivered by the real sender to a real SMTP sink), a later deadline, and
what happens when two agents act at once."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from makegood.audit.models import AuditEntry
from makegood.campaigns.support import (
    customer_record,
    find_customers,
    resend_claim,
)
from makegood.core.errors import ConflictError, InvalidInputError, NotFoundError
from makegood.core.tokens import hash_token, unseal
from makegood.credits.models import ClaimToken, Offer
from makegood.credits.offers import extend_deadline
from makegood.credits.service import claim, look, void
from makegood.db.uow import UnitOfWork
from makegood.messaging.models import Message
from tests.support import truth as gt
from tests.support.claims import delivered_links
from tests.support.delivery import SENT_AT, executed, send, settings
from tests.support.world import SECRET

LATER = SENT_AT + timedelta(hours=1)


@pytest.fixture
def delivered(engine, database_url, world, sink):
    """The streaming (claim) campaign executed and delivered: (config, sink, first link)."""
    handler, port = sink
    executed(engine, world.streaming)
    config = settings(database_url, port)
    send(engine, config)
    links = delivered_links(handler)
    assert links
    return config, handler, links[0]


def offer_for(engine, recipient: str) -> Offer:
    from makegood.customers.models import Customer

    with UnitOfWork(engine) as uow:
        return uow.session.scalars(
            select(Offer)
            .join(Customer, Customer.customer_id == Offer.customer_id)
            .where(Customer.email == recipient)
        ).one()


def resend(engine, offer_id: int, at=LATER, actor="agent"):
    with UnitOfWork(engine) as uow:
        done = resend_claim(uow.session, offer_id, at, actor, SECRET)
        uow.commit()
    return done


def messages_of(engine, offer_id: int) -> list[Message]:
    with UnitOfWork(engine) as uow:
        return list(
            uow.session.scalars(
                select(Message).where(Message.offer_id == offer_id).order_by(Message.sequence)
            )
        )


def audit(engine, action: str) -> list[AuditEntry]:
    with UnitOfWork(engine) as uow:
        return list(
            uow.session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


def test_a_resent_claim_email_carries_a_new_link_and_the_old_one_stops_working(engine, delivered):
    config, handler, first = delivered
    offer = offer_for(engine, first.recipient)

    done = resend(engine, offer.id)
    assert done.sequence == 2 and done.links_replaced == 1 and done.messages_replaced == []

    with UnitOfWork(engine) as uow:
        assert look(uow.session, first.token, LATER) is None  # the claim page answers 404
        assert claim(uow.session, first.token, LATER).status == "unknown"
    counts = send(engine, config)
    assert counts.sent == 1
    fresh = [d for d in delivered_links(handler) if d.recipient == first.recipient]
    assert len(fresh) == 2 and fresh[0].token == first.token
    new = fresh[1]
    assert new.token != first.token
    with UnitOfWork(engine) as uow:
        outcome = claim(uow.session, new.token, LATER)
        uow.commit()
    assert outcome.status == "claimed" and outcome.offer_id == offer.id
    sent = messages_of(engine, offer.id)
    assert [(m.sequence, m.status) for m in sent] == [(1, "sent"), (2, "sent")]
    assert sent[1].provider_message_id != sent[0].provider_message_id
    assert handler.message_ids()[sent[1].provider_message_id] == 1


def test_resending_twice_gives_sequences_two_and_three_and_only_the_last_link_works(
    engine, delivered
):
    _, _, first = delivered
    offer = offer_for(engine, first.recipient)
    assert [resend(engine, offer.id).sequence for _ in range(2)] == [2, 3]

    sent = messages_of(engine, offer.id)
    assert [m.sequence for m in sent] == [1, 2, 3]
    assert {m.kind for m in sent} == {"claim_offer"}
    tokens = [unseal(m.payload["sealed_token"], SECRET) for m in sent]
    with UnitOfWork(engine) as uow:
        live = uow.session.scalars(
            select(ClaimToken.token_hash).where(ClaimToken.offer_id == offer.id)
        ).all()
        assert live == [hash_token(tokens[2])]
        assert [look(uow.session, t, LATER) is not None for t in tokens] == [False, False, True]


def test_the_resend_is_audited_without_the_token(engine, delivered):
    _, _, first = delivered
    offer = offer_for(engine, first.recipient)
    done = resend(engine, offer.id, actor="dana")

    [entry] = audit(engine, "offer.claim_resent")
    assert (entry.actor, entry.object_type, entry.object_id) == ("dana", "offer", str(offer.id))
    first_message = messages_of(engine, offer.id)[0]
    assert entry.before == {"message_id": first_message.id, "sequence": 1}
    assert entry.after == {
        "message_id": done.message_id,
        "sequence": 2,
        "links_replaced": 1,
        "messages_replaced": [],
    }
    written = json.dumps([entry.before, entry.after])
    token = unseal(messages_of(engine, offer.id)[1].payload["sealed_token"], SECRET)
    assert token not in written and hash_token(token) not in written


def test_a_claimed_voided_expired_or_automatic_offer_is_not_resent(engine, delivered, world):
    _, _, first = delivered
    offer = offer_for(engine, first.recipient)
    with UnitOfWork(engine) as uow:
        claim(uow.session, first.token, LATER)
        uow.commit()
    with pytest.raises(ConflictError, match="claimed"):
        resend(engine, offer.id)

    with UnitOfWork(engine) as uow:
        other = uow.session.scalars(
            select(Offer).where(Offer.status == "offered").order_by(Offer.id)
        ).first()
        void(uow.session, other.id, "duplicate account", LATER, "agent")
        uow.commit()
    with pytest.raises(ConflictError, match="voided"):
        resend(engine, other.id)

    with UnitOfWork(engine) as uow:
        waiting = uow.session.scalars(
            select(Offer).where(Offer.status == "offered").order_by(Offer.id)
        ).first()
    with pytest.raises(ConflictError, match="extend its deadline"):
        resend(engine, waiting.id, at=waiting.expires_at)

    executed(engine, world.shipping)
    with UnitOfWork(engine) as uow:
        granted = uow.session.scalars(select(Offer).where(Offer.status == "granted")).first()
    with pytest.raises(ConflictError, match="granted"):
        resend(engine, granted.id)
    with pytest.raises(NotFoundError):
        resend(engine, 10**9)
    # None of the refusals left a message, a token change or an audit entry behind.
    assert len(messages_of(engine, offer.id)) == 1
    assert audit(engine, "offer.claim_resent") == []
    with UnitOfWork(engine) as uow:
        assert look(uow.session, first.token, LATER).status == "claimed"


def test_an_email_still_waiting_to_go_is_replaced_not_sent_with_a_dead_link(
    engine, database_url, world, sink
):
    handler, port = sink
    executed(engine, world.streaming)
    with UnitOfWork(engine) as uow:
        waiting = uow.session.scalars(select(Message).order_by(Message.id)).first()
    done = resend(engine, waiting.offer_id)
    assert done.messages_replaced == [waiting.id]

    send(engine, settings(database_url, port))
    sent = messages_of(engine, waiting.offer_id)
    assert [m.status for m in sent] == ["failed", "sent"]
    assert "replaced by message" in sent[0].last_error
    with UnitOfWork(engine) as uow:
        email = uow.session.scalar(
            text("SELECT email FROM customers WHERE customer_id = :c"), {"c": waiting.customer_id}
        )
    mine = [d for d in delivered_links(handler) if d.recipient == email]
    assert len(mine) == 1
    with UnitOfWork(engine) as uow:
        assert look(uow.session, mine[0].token, LATER) is not None


def test_two_resends_at_once_never_share_a_sequence_and_leave_one_live_link(engine, delivered):
    _, _, first = delivered
    offer = offer_for(engine, first.recipient)
    start = threading.Barrier(4)

    def attempt(_: int) -> object:
        start.wait()
        try:
            return resend(engine, offer.id).sequence
        except ConflictError as exc:
            return exc

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(4)))
    won = sorted(r for r in results if isinstance(r, int))
    lost = [r for r in results if isinstance(r, ConflictError)]
    assert len(won) + len(lost) == 4 and won
    assert won == list(range(2, 2 + len(won)))  # distinct, no gaps
    sent = messages_of(engine, offer.id)
    assert [m.sequence for m in sent] == [1, *won]
    newest = unseal(sent[-1].payload["sealed_token"], SECRET)
    with UnitOfWork(engine) as uow:
        live = uow.session.scalars(
            select(ClaimToken.token_hash).where(ClaimToken.offer_id == offer.id)
        ).all()
    assert live == [hash_token(newest)]
    assert len(audit(engine, "offer.claim_resent")) == len(won)


# Row locks and a unique insert that blocks on another transaction's are PostgreSQL's.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_the_unique_key_turns_the_second_of_two_overlapping_resends_away(
    engine, database_url, delivered
):
    _, _, first = delivered
    offer = offer_for(engine, first.recipient)
    outcome: list[object] = []

    with UnitOfWork(engine) as one:
        resend_claim(one.session, offer.id, LATER, "first", SECRET)  # not committed yet

        def second() -> None:
            try:
                outcome.append(resend(engine, offer.id, actor="second"))
            except ConflictError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        _wait_for_a_blocked_lock(engine)
        one.commit()
        thread.join(30)

    [lost] = outcome
    assert isinstance(lost, ConflictError) and "same moment" in lost.message
    assert [m.sequence for m in messages_of(engine, offer.id)] == [1, 2]
    assert [e.actor for e in audit(engine, "offer.claim_resent")] == ["first"]
    with UnitOfWork(engine) as uow:
        tokens = uow.session.scalar(
            select(func.count()).select_from(ClaimToken).where(ClaimToken.offer_id == offer.id)
        )
    assert tokens == 1


def _wait_for_a_blocked_lock(engine) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            waiting = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the second resend never waited on the first")


# --- extending a deadline ---------------------------------------------------------


def extend(engine, offer_id: int, deadline, at=LATER, actor="agent") -> Offer:
    with UnitOfWork(engine) as uow:
        offer = extend_deadline(uow.session, offer_id, deadline, at, actor)
        uow.commit()
    return offer


def test_a_later_deadline_keeps_the_link_working_past_the_old_one(engine, delivered):
    _, _, first = delivered
    offer = offer_for(engine, first.recipient)
    new_deadline = offer.expires_at + timedelta(days=7)
    assert extend(engine, offer.id, new_deadline, actor="dana").expires_at == new_deadline

    after_old = offer.expires_at + timedelta(days=1)
    with UnitOfWork(engine) as uow:
        view = look(uow.session, first.token, after_old)
        assert view.status == "offered" and view.expires_at == new_deadline
        assert claim(uow.session, first.token, after_old).status == "claimed"
        uow.commit()
    [entry] = audit(engine, "offer.deadline_extended")
    assert entry.actor == "dana"
    assert entry.before == {"status": "offered", "expires_at": offer.expires_at.isoformat()}
    assert entry.after == {"status": "offered", "expires_at": new_deadline.isoformat()}


def test_an_offer_that_ran_out_unclaimed_opens_again(engine, delivered):
    _, _, first = delivered
    offer = offer_for(engine, first.recipient)
    late = offer.expires_at + timedelta(days=2)
    with UnitOfWork(engine) as uow:
        assert look(uow.session, first.token, late).status == "expired"
    # An offer some job marked 'expired' opens again too.
    with UnitOfWork(engine) as uow:
        uow.session.execute(
            text("UPDATE offers SET status = 'expired' WHERE id = :id"), {"id": offer.id}
        )
        uow.commit()
    extend(engine, offer.id, late + timedelta(days=3), at=late)
    with UnitOfWork(engine) as uow:
        assert look(uow.session, first.token, late).status == "offered"
        assert claim(uow.session, first.token, late).status == "claimed"
        uow.commit()
    assert audit(engine, "offer.deadline_extended")[0].before["status"] == "expired"


def test_a_deadline_must_be_later_in_the_future_and_not_absurd(engine, delivered):
    _, _, first = delivered
    offer = offer_for(engine, first.recipient)
    for wrong, words in (
        (offer.expires_at, "not later than the current"),
        (offer.expires_at - timedelta(hours=1), "not later than the current"),
        (LATER - timedelta(minutes=1), "has passed"),
        (LATER + timedelta(days=400), "more than a year"),
        (offer.expires_at.replace(tzinfo=None) + timedelta(days=1), "no UTC offset"),
    ):
        with pytest.raises(InvalidInputError, match=words):
            extend(engine, offer.id, wrong)
    # After the old deadline, a new one must still be in the future.
    late = offer.expires_at + timedelta(days=2)
    with pytest.raises(InvalidInputError, match="has passed"):
        extend(engine, offer.id, late - timedelta(days=1), at=late)
    assert audit(engine, "offer.deadline_extended") == []


def test_a_claimed_voided_or_automatic_offer_gets_no_new_deadline(engine, delivered, world):
    _, _, first = delivered
    offer = offer_for(engine, first.recipient)
    later = offer.expires_at + timedelta(days=3)
    with UnitOfWork(engine) as uow:
        claim(uow.session, first.token, LATER)
        uow.commit()
    with pytest.raises(ConflictError, match="claimed"):
        extend(engine, offer.id, later)
    with UnitOfWork(engine) as uow:
        other = uow.session.scalars(select(Offer).where(Offer.status == "offered")).first()
        void(uow.session, other.id, "test account", LATER, "agent")
        uow.commit()
    with pytest.raises(ConflictError, match="voided"):
        extend(engine, other.id, later)
    executed(engine, world.shipping)
    with UnitOfWork(engine) as uow:
        granted = uow.session.scalars(select(Offer).where(Offer.status == "granted")).first()
    with pytest.raises(ConflictError, match="granted"):
        extend(engine, granted.id, later)
    with pytest.raises(NotFoundError):
        extend(engine, 10**9, later)


# --- looking a customer up ----------------------------------------------------------


def test_customers_are_found_by_exact_id_or_email_in_any_case(engine, delivered):
    _, _, first = delivered
    offer = offer_for(engine, first.recipient)
    with UnitOfWork(engine) as uow:
        by_id = find_customers(uow.session, f"  {offer.customer_id} ")
        by_email = find_customers(uow.session, first.recipient.upper())
        partial = find_customers(uow.session, first.recipient[:-4])
        blank = find_customers(uow.session, "  ")
    assert [c.customer_id for c in by_id] == [offer.customer_id]
    assert [c.customer_id for c in by_email] == [offer.customer_id]
    assert partial == [] and blank == []


def test_the_record_holds_incidents_offers_messages_attempts_ledger_and_balance(
    engine, delivered, world
):
    _, _, first = delivered
    offer = offer_for(engine, first.recipient)
    with UnitOfWork(engine) as uow:
        claim(uow.session, first.token, LATER)
        uow.commit()
    with UnitOfWork(engine) as uow:
        found = customer_record(uow.session, offer.customer_id)
        with pytest.raises(NotFoundError):
            customer_record(uow.session, "nobody")
    assert [t.incident.id for t in found.incidents] == [world.streaming]
    assert found.incidents[0].impact is not None
    assert [o.id for o in found.offers] == [offer.id]
    [sent] = found.messages
    assert sent.message.status == "sent" and [a.outcome for a in sent.attempts] == ["sent"]
    assert [(e.kind, e.amount_minor) for e in found.ledger] == [("claim", offer.amount_minor)]
    assert found.balance == {offer.currency: offer.amount_minor}
    assert offer.expires_at > gt.NOW
