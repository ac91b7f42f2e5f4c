"""Use cases on credits: claim an offer by its token, void a credit, read balances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.core.errors import ConflictError, InvalidInputError, NotFoundError
from makegood.core.tokens import hash_token
from makegood.credits.models import ClaimToken, LedgerEntry, Offer
from makegood.credits.rules import statement_date
from makegood.customers.models import Customer
from makegood.incidents.models import Incident


@dataclass(frozen=True)
class ClaimOutcome:
    """claimed | already_claimed | expired | voided | unknown, and when it was claimed."""

    status: str
    offer_id: int | None = None
    claimed_at: datetime | None = None
    expires_at: datetime | None = None
    amount_minor: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class ClaimView:
    """What the claim page shows about an offer; reading it changes nothing."""

    status: str  # offered | claimed | expired | voided
    offer_id: int
    amount_minor: int
    currency: str
    expires_at: datetime | None
    claimed_at: datetime | None
    statement_date: date
    first_name: str
    locale: str
    timezone: str
    country: str
    incident_title: str
    incident_summary: str
    incident_summaries: dict[str, str]
    incident_services: tuple[str, ...] = ()
    incident_start: datetime | None = None
    incident_end: datetime | None = None


def look(session: Session, token: str, now: datetime) -> ClaimView | None:
    """The offer behind a claim token as of ``now``, or None for a token never issued."""
    found = session.execute(
        select(
            Offer,
            Customer.first_name,
            Customer.locale,
            Customer.timezone,
            Customer.country,
            Customer.next_bill_date,
            Incident.title,
            Incident.summary,
            Incident.summaries,
            Incident.services,
            Incident.start_at,
            Incident.end_at,
        )
        .join(ClaimToken, ClaimToken.offer_id == Offer.id)
        .join(Customer, Customer.customer_id == Offer.customer_id)
        .join(Incident, Incident.id == Offer.incident_id)
        .where(ClaimToken.token_hash == hash_token(token))
    ).first()
    if found is None:
        return None
    offer, first, locale, zone, country, bill, title, summary, summaries = found[:9]
    services, started, ended = found[9:]
    status = offer.status
    if status == "offered" and offer.expires_at is not None and offer.expires_at <= now:
        status = "expired"
    if status not in ("offered", "claimed", "expired", "voided"):
        return None
    return ClaimView(
        status=status,
        offer_id=offer.id,
        amount_minor=offer.amount_minor,
        currency=offer.currency,
        expires_at=offer.expires_at,
        claimed_at=offer.claimed_at,
        statement_date=offer.statement_date or statement_date(bill, now, zone),
        first_name=first or "",
        locale=locale,
        timezone=zone,
        country=country,
        incident_title=title,
        incident_summary=summary or "",
        incident_summaries=dict(summaries or {}),
        incident_services=tuple(services or ()),
        incident_start=started,
        incident_end=ended,
    )


# PostgreSQL claims an offer in one round trip: the token's offer with what the credit
# needs, the conditional update, the ledger entry and the audit entry, all in one
# statement. Every part sees the same snapshot, so the inserts happen only for the row
# the update changed; a racing claim waits on the offer's row lock, then finds it no
# longer 'offered' and changes nothing. The statement date is the one ``statement_date``
# computes: the next bill date on or after the customer's local day, rolled forward by
# whole months (PostgreSQL's month arithmetic clamps to the month's end, as
# ``add_months`` does). It runs on the driver's own cursor (psycopg placeholders):
# SQLAlchemy's statement execution and result handling would cost more CPU than the
# driver's whole execution of it.
_CLAIM_POSTGRESQL = """
    WITH found AS (
      SELECT o.id, o.customer_id, o.incident_id, o.amount_minor, o.currency,
             c.next_bill_date AS bill,
             (CAST(%(now)s AS timestamptz) AT TIME ZONE c.timezone)::date AS today,
             i.title
      FROM claim_tokens t
      JOIN offers o ON o.id = t.offer_id
      JOIN customers c ON c.customer_id = o.customer_id
      JOIN incidents i ON i.id = o.incident_id
      WHERE t.token_hash = %(token_hash)s
    ), months AS (
      SELECT found.*,
             ((extract(year FROM today) - extract(year FROM bill)) * 12
              + extract(month FROM today) - extract(month FROM bill))::int AS m
      FROM found
    ), dated AS (
      SELECT months.*,
             CASE WHEN bill >= today THEN bill
                  WHEN (bill + make_interval(months => m))::date >= today
                    THEN (bill + make_interval(months => m))::date
                  ELSE (bill + make_interval(months => m + 1))::date
             END AS statement
      FROM months
    ), won AS (
      UPDATE offers o
      SET status = 'claimed', claimed_at = %(now)s, statement_date = dated.statement
      FROM dated
      WHERE o.id = dated.id AND o.status = 'offered' AND o.expires_at > %(now)s
      RETURNING o.id, o.expires_at
    ), credit AS (
      INSERT INTO ledger_entries (offer_id, customer_id, incident_id, kind, amount_minor,
                                  currency, statement_date, created_at, description)
      SELECT d.id, d.customer_id, d.incident_id, 'claim', d.amount_minor, d.currency,
             d.statement, %(now)s, 'Credit: ' || d.title
      FROM won JOIN dated d ON d.id = won.id
    ), audit AS (
      INSERT INTO audit_entries (at, actor, action, object_type, object_id, before, after)
      SELECT %(now)s, %(actor)s, 'offer.claimed', 'offer', d.id::text,
             json_build_object('status', 'offered'),
             json_build_object('status', 'claimed',
                               'statement_date', to_char(d.statement, 'YYYY-MM-DD'))
      FROM won JOIN dated d ON d.id = won.id
    )
    SELECT d.id, won.id IS NOT NULL AS won, won.expires_at, d.amount_minor, d.currency
    FROM dated d LEFT JOIN won ON won.id = d.id
"""

_OFFER_STATE = select(
    Offer.status, Offer.claimed_at, Offer.expires_at, Offer.amount_minor, Offer.currency
)


def claim(session: Session, token: str, now: datetime, actor: str = "customer") -> ClaimOutcome:
    """Claim an offer once, before it expires, with one conditional update; the credit
    goes on the ledger and the claim in the audit log in the same transaction."""
    if session.get_bind().dialect.name == "postgresql":
        return claim_in_one_statement(session.connection(), token, now, actor)
    return _claim_portable(session, hash_token(token), now, actor)


def claim_in_one_statement(
    conn: Connection, token: str, now: datetime, actor: str = "customer"
) -> ClaimOutcome:
    """``claim`` on PostgreSQL: one statement, and so atomic even without a transaction
    around it (a connection in autocommit saves the BEGIN and COMMIT round trips)."""
    driver = conn.connection.dbapi_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.execute(
            _CLAIM_POSTGRESQL, {"token_hash": hash_token(token), "now": now, "actor": actor}
        )
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        return ClaimOutcome("unknown")
    offer_id, won, expires_at, amount, currency = row
    if not won:
        return _why_not(conn, offer_id, now)
    return ClaimOutcome("claimed", offer_id, now, expires_at.astimezone(UTC), amount, currency)


def claim_offer(
    session: Session, offer_id: int, now: datetime, actor: str, customer_id: str | None = None
) -> ClaimOutcome:
    """Claim an offer by its id, for the company's own signed-in site or its support: the
    same conditional update and deadline as the claim link, so a claim by link and one
    by id racing for one offer make one credit. With ``customer_id``, an offer of
    another customer is unknown."""
    return _claim_where(session, Offer.id == offer_id, now, actor, customer_id)


def _claim_portable(session: Session, token_hash: str, now: datetime, actor: str) -> ClaimOutcome:
    """The same claim in a few statements, for databases without data-modifying CTEs."""
    return _claim_where(session, ClaimToken.token_hash == token_hash, now, actor)


def _claim_where(
    session: Session, which: Any, now: datetime, actor: str, customer_id: str | None = None
) -> ClaimOutcome:
    found = session.execute(
        select(
            Offer.id,
            Offer.customer_id,
            Offer.incident_id,
            Offer.amount_minor,
            Offer.currency,
            Offer.expires_at,
            Customer.next_bill_date,
            Customer.timezone,
            Incident.title,
        )
        .join(Customer, Customer.customer_id == Offer.customer_id)
        .join(Incident, Incident.id == Offer.incident_id)
        .join(ClaimToken, ClaimToken.offer_id == Offer.id)
        .where(which)
    ).first()
    if found is None or (customer_id is not None and found.customer_id != customer_id):
        return ClaimOutcome("unknown")
    offer_id, customer_id, incident_id, amount, currency, expires_at, bill, zone, title = found
    statement = statement_date(bill, now, zone)
    won = session.execute(
        update(Offer)
        .where(Offer.id == offer_id, Offer.status == "offered", Offer.expires_at > now)
        .values(status="claimed", claimed_at=now, statement_date=statement)
        .returning(Offer.id)
        .execution_options(synchronize_session=False)
    ).first()
    if won is None:
        return _why_not(session, offer_id, now)
    session.execute(
        insert(LedgerEntry).values(
            offer_id=offer_id,
            customer_id=customer_id,
            incident_id=incident_id,
            kind="claim",
            amount_minor=amount,
            currency=currency,
            statement_date=statement,
            created_at=now,
            description=f"Credit: {title}",
        )
    )
    record(
        session,
        at=now,
        actor=actor,
        action="offer.claimed",
        object_type="offer",
        object_id=offer_id,
        before={"status": "offered"},
        after={"status": "claimed", "statement_date": statement.isoformat()},
    )
    session.flush()
    return ClaimOutcome("claimed", offer_id, now, expires_at, amount, currency)


def _why_not(db: Session | Connection, offer_id: int, now: datetime) -> ClaimOutcome:
    """Why the offer was not claimed, from its state as committed now (a racing claim
    that won has committed by the time the conditional update gave up)."""
    state = db.execute(_OFFER_STATE.where(Offer.id == offer_id)).first()
    if state is None:
        return ClaimOutcome("unknown")
    status, claimed_at, expires_at, amount, currency = state
    args = (offer_id, claimed_at, expires_at, amount, currency)
    if status == "claimed":
        return ClaimOutcome("already_claimed", *args)
    if status == "voided":
        return ClaimOutcome("voided", *args)
    if (expires_at is not None and expires_at <= now) or status == "expired":
        return ClaimOutcome("expired", *args)
    return ClaimOutcome("unknown")


def void(session: Session, offer_id: int, reason: str, now: datetime, actor: str) -> Offer:
    """Void an offer; a credit already on the ledger gets a reversal entry."""
    if not reason.strip():
        raise InvalidInputError("--reason: say why the credit is voided")
    offer = session.scalar(select(Offer).where(Offer.id == offer_id).with_for_update())
    if offer is None:
        raise NotFoundError(f"offer {offer_id} does not exist")
    if offer.status not in ("granted", "offered", "claimed"):
        raise ConflictError(
            f"offer {offer_id} is {offer.status}; only granted, offered or "
            "claimed offers can be voided"
        )
    before = offer.status
    credited = int(
        session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
                LedgerEntry.offer_id == offer_id
            )
        )
        or 0
    )
    if credited:
        zone, bill = session.execute(
            select(Customer.timezone, Customer.next_bill_date).where(
                Customer.customer_id == offer.customer_id
            )
        ).one()
        session.add(
            LedgerEntry(
                offer_id=offer.id,
                customer_id=offer.customer_id,
                incident_id=offer.incident_id,
                kind="reversal",
                amount_minor=-credited,
                currency=offer.currency,
                statement_date=statement_date(bill, now, zone),
                created_at=now,
                description=f"Reversal: {reason.strip()}",
            )
        )
    offer.status, offer.voided_at, offer.void_reason = "voided", now, reason.strip()
    record(
        session,
        at=now,
        actor=actor,
        action="offer.voided",
        object_type="offer",
        object_id=offer_id,
        before={"status": before},
        after={"status": "voided", "reason": reason.strip(), "reversed_minor": credited},
    )
    session.flush()
    return offer


def balance(session: Session, customer_id: str) -> dict[str, int]:
    """The customer's credit balance per currency: the sum of the ledger."""
    rows = session.execute(
        select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
        .where(LedgerEntry.customer_id == customer_id)
        .group_by(LedgerEntry.currency)
    ).all()
    return {str(c): int(s) for c, s in rows}
