"""Writing offers and claim tokens, which credits owns: the campaigns domain asks for
these writes (planning stores offers, execution settles them, support re-issues a link
or gives more time); it never writes the tables itself.

Execution is set-based: campaigns stages a chunk of decided offers in a temporary
table with the columns of ``STAGED``, and ``settle_staged`` moves them on in three
statements (offers, claim tokens, grants on the ledger).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import CursorResult, delete, select, text
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.core.clock import ensure_aware
from makegood.core.errors import ConflictError, InvalidInputError, NotFoundError
from makegood.credits.models import ClaimToken, Offer
from makegood.db.bulk import db_instant, dialect, insert_rows

# A later deadline this far out is almost surely a typo (a year, not a week).
LONGEST_EXTENSION = timedelta(days=366)


class PlannedOffer(NamedTuple):
    campaign_id: int
    incident_id: int
    customer_id: str
    status: str  # planned | held_out
    mode: str  # automatic | claim
    rule: str
    amount_minor: int
    currency: str
    claim_days: int | None
    capped: bool
    round: int = 0  # 0: the incident's first campaign; 1, 2, ...: follow-ups


class StagedOffer(NamedTuple):
    """One offer as execution decided it: granted (with its statement date) or
    offered (with its claim token's hash, its deadline, and the outbox payload)."""

    offer_id: int
    customer_id: str
    incident_id: int
    amount_minor: int
    currency: str
    status: str  # granted | offered
    token_hash: str | None
    expires_at: datetime | None
    statement_date: Any
    payload: str


STAGED = StagedOffer._fields
STAGE_DDL = (
    "offer_id BIGINT, customer_id VARCHAR(200), incident_id INTEGER, amount_minor BIGINT, "
    "currency VARCHAR(3), status VARCHAR(16), token_hash VARCHAR(64), "
    "expires_at TIMESTAMP WITH TIME ZONE, statement_date DATE, payload TEXT"
)


def drop_offers(session: Session, campaign_id: int) -> None:
    """A campaign's offers, gone (a draft re-planned or a campaign cancelled before it
    ran: nothing was granted or offered from them)."""
    session.execute(delete(Offer).where(Offer.campaign_id == campaign_id))


def replace_planned(
    session: Session, campaign_id: int, batches: Iterable[Sequence[PlannedOffer]]
) -> None:
    """A draft campaign's offers, replacing any it had (written in bulk)."""
    drop_offers(session, campaign_id)
    for batch in batches:
        insert_rows(session, "offers", PlannedOffer._fields, batch)
    if dialect(session) == "postgresql":
        # Fresh statistics, so execution's queries see a million offers, not none.
        session.execute(text("ANALYZE offers"))


def stage(session: Session, name: str, rows: Sequence[StagedOffer]) -> None:
    """A temporary table ``name`` holding ``rows`` (replacing one left behind)."""
    session.execute(text(f"DROP TABLE IF EXISTS {name}"))
    session.execute(text(f"CREATE TEMPORARY TABLE {name} ({STAGE_DDL})"))
    insert_rows(session, name, STAGED, rows)


def settle_staged(session: Session, name: str, now: datetime, description: str) -> None:
    """Move the staged offers out of 'planned', keep each claim token's hash, and put
    each grant on the ledger (an offer already moved on is left as it is)."""
    params = {"now": db_instant(session, now), "description": description}
    for statement in (
        "UPDATE offers SET status = s.status, "
        "expires_at = s.expires_at, statement_date = s.statement_date, "
        "granted_at = CASE WHEN s.status = 'granted' THEN :now END "
        f"FROM {name} s WHERE offers.id = s.offer_id AND offers.status = 'planned'",
        "INSERT INTO claim_tokens (token_hash, offer_id) "
        f"SELECT token_hash, offer_id FROM {name} WHERE token_hash IS NOT NULL",
        "INSERT INTO ledger_entries (offer_id, customer_id, incident_id, kind, amount_minor, "
        "currency, statement_date, created_at, description) "
        "SELECT offer_id, customer_id, incident_id, 'grant', amount_minor, currency, "
        f"statement_date, :now, :description FROM {name} WHERE status = 'granted'",
    ):
        session.execute(text(statement), params)


def reissue_claim_token(session: Session, offer_id: int, token_hash: str) -> int:
    """The offer's only link from now on is this token's; answers how many it replaced."""
    gone: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(ClaimToken).where(ClaimToken.offer_id == offer_id)
    )
    session.add(ClaimToken(token_hash=token_hash, offer_id=offer_id))
    return int(gone.rowcount)


def extend_deadline(
    session: Session, offer_id: int, new_deadline: datetime, now: datetime, actor: str
) -> Offer:
    """Give a claim offer a later deadline; one that ran out unclaimed opens again."""
    try:
        deadline = ensure_aware(new_deadline, "deadline")
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    offer = session.scalar(
        select(Offer)
        .where(Offer.id == offer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if offer is None:
        raise NotFoundError(f"offer {offer_id} does not exist")
    if offer.status not in ("offered", "expired") or offer.expires_at is None:
        raise ConflictError(
            f"offer {offer_id} is {offer.status}; only a claim offer not yet claimed or "
            "voided can get a later deadline"
        )
    _later(deadline, offer.expires_at, now)
    before = {"status": offer.status, "expires_at": _iso(offer.expires_at)}
    offer.status, offer.expires_at = "offered", deadline
    record(
        session,
        at=now,
        actor=actor,
        action="offer.deadline_extended",
        object_type="offer",
        object_id=offer_id,
        before=before,
        after={"status": "offered", "expires_at": _iso(deadline)},
    )
    session.flush()
    return offer


def _later(deadline: datetime, current: datetime, now: datetime) -> None:
    if deadline <= now:
        raise InvalidInputError(
            f"deadline: {_iso(deadline)} has passed; choose a moment after {_iso(now)}"
        )
    if deadline <= current:
        raise InvalidInputError(
            f"deadline: {_iso(deadline)} is not later than the current one, {_iso(current)}"
        )
    if deadline > now + LONGEST_EXTENSION:
        raise InvalidInputError(
            f"deadline: {_iso(deadline)} is more than a year away; check the date"
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
