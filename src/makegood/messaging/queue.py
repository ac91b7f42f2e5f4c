"""Putting messages in the outbox, which messaging owns: campaign execution queues a
chunk's letters from its staged offers in one statement; support queues a claim letter
again and retires the ones it replaces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from makegood.core.errors import ConflictError
from makegood.db.bulk import db_instant, dialect
from makegood.messaging.models import Message

# The channel a campaign's letters go by unless a customer's preference says otherwise.
DEFAULT_CHANNEL = "email"
# The channels a customers file can name (its channel column).
CHANNELS = ("email", "sms")
# Messages not yet handed to a sender.
WAITING = ("queued", "retrying")
# The payload of a staged offer that gets no letter (a follow-up's top-up: the
# customer was told of their credit the first time).
SILENT = '{"kind": "none"}'


def queue_staged(session: Session, stage: str, campaign_id: int, now: datetime) -> None:
    """One queued letter per staged offer (``offer_id``, ``customer_id``, ``status``
    granted or offered, ``payload`` as JSON text) and channel the customer is reached
    on (their ``channel`` column: email, sms or both; email when it says nothing);
    none for an offer whose payload is ``SILENT``."""
    payload = "CAST(s.payload AS JSON)" if dialect(session) == "postgresql" else "s.payload"
    wanted = " UNION ALL ".join(f"SELECT '{name}' AS name" for name in CHANNELS)
    session.execute(
        text(
            "INSERT INTO messages (campaign_id, offer_id, customer_id, channel, kind, status, "
            "payload, attempts, created_at) "
            "SELECT :campaign, s.offer_id, s.customer_id, ch.name, "
            "CASE s.status WHEN 'granted' THEN 'automatic_credit' ELSE 'claim_offer' END, "
            f"'queued', {payload}, 0, :now FROM {stage} s "
            "JOIN customers c ON c.customer_id = s.customer_id "
            f"JOIN ({wanted}) ch ON ',' || coalesce(c.channel, :default) || ',' "
            "LIKE '%,' || ch.name || ',%' WHERE s.payload <> :silent"
        ),
        {
            "campaign": campaign_id,
            "default": DEFAULT_CHANNEL,
            "now": db_instant(session, now),
            "silent": SILENT,
        },
    )


def refresh_statistics(session: Session) -> None:
    """Fresh planner statistics for the outbox once a campaign has queued its letters
    (PostgreSQL): without them the query that leases each batch expects a handful of
    waiting messages, and with 785,000 waiting it scanned and sorted them all for every
    batch of 500 (about a second each). Autovacuum would get there, later, if it runs."""
    if dialect(session) == "postgresql":
        session.execute(text("ANALYZE messages"))


def queue_notices(
    session: Session, campaign_id: int, told: list[tuple[int, str, str]], now: datetime
) -> None:
    """A correction notice for each (offer id, customer id, action: close or reverse)
    on the channels the customer is reached on: their claim link closed, or their
    credit reversed. One per customer and channel in a campaign, whatever is retried
    (a customer with two corrected offers is told once)."""
    payload = "CAST(:payload AS JSON)" if dialect(session) == "postgresql" else ":payload"
    wanted = " UNION ALL ".join(f"SELECT '{name}' AS name" for name in CHANNELS)
    statement = text(
        "INSERT INTO messages (campaign_id, offer_id, customer_id, channel, kind, status, "
        "payload, attempts, created_at) "
        f"SELECT :campaign, :offer, c.customer_id, ch.name, 'correction_notice', 'queued', "
        f"{payload}, 0, :now FROM customers c "
        f"JOIN ({wanted}) ch ON ',' || coalesce(c.channel, :default) || ',' "
        "LIKE '%,' || ch.name || ',%' WHERE c.customer_id = :customer AND NOT EXISTS "
        "(SELECT 1 FROM messages m WHERE m.campaign_id = :campaign "
        "AND m.customer_id = :customer AND m.channel = ch.name)"
    )
    moment = db_instant(session, now)
    for offer_id, customer_id, action in told:
        session.execute(
            statement,
            {
                "campaign": campaign_id,
                "offer": offer_id,
                "customer": customer_id,
                "payload": f'{{"kind": "correction_notice", "action": "{action}"}}',
                "now": moment,
                "default": DEFAULT_CHANNEL,
            },
        )


def last_letter(session: Session, campaign_id: int, customer_id: str) -> Message | None:
    """The newest letter of a campaign to a customer."""
    return session.scalars(
        select(Message)
        .where(Message.campaign_id == campaign_id, Message.customer_id == customer_id)
        .order_by(Message.sequence.desc())
        .limit(1)
    ).first()


def queue_again(
    session: Session,
    last: Message | None,
    offer: tuple[int, int, str],
    payload: dict[str, Any],
    now: datetime,
) -> Message:
    """The claim letter for ``offer`` (id, campaign, customer) once more, as the next in
    its sequence. Two at once aim at the same sequence: the outbox's unique key lets
    one win, and the other gets a ConflictError."""
    offer_id, campaign_id, customer_id = offer
    message = Message(
        campaign_id=campaign_id,
        offer_id=offer_id,
        customer_id=customer_id,
        channel=last.channel if last else DEFAULT_CHANNEL,
        sequence=(last.sequence if last else 0) + 1,
        kind="claim_offer",
        status="queued",
        payload=payload,
        attempts=0,
        created_at=now,
    )
    session.add(message)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(
            f"offer {offer_id}: another claim email was queued for it at the same moment; "
            "reload to see it"
        ) from None
    return message


def supersede(session: Session, campaign_id: int, customer_id: str, newest: int) -> list[int]:
    """Earlier letters still waiting to go would carry a dead link: they are not sent,
    and say why."""
    found = session.execute(
        update(Message)
        .where(
            Message.campaign_id == campaign_id,
            Message.customer_id == customer_id,
            Message.id != newest,
            Message.status.in_(WAITING),
        )
        .values(
            status="failed",
            next_attempt_at=None,
            last_error=f"not sent: replaced by message {newest} with a new claim link",
        )
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(found.scalars())
