"""The outbox as a work queue: senders lease messages, then record what happened.

A lease is one conditional update: the messages a sender takes are marked
'sending' with its name and an expiry, skipping rows another sender has locked
(PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite has one writer at a time). An
outcome is written only while the lease is still held, so a sender whose lease
ran out cannot overwrite what the next sender did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from makegood.db.bulk import dialect
from makegood.messaging.models import PENDING_STATES, DeliveryAttempt, Message, Suppression


@dataclass(frozen=True)
class Outcome:
    message_id: int
    attempt: int
    outcome: str  # sent | retry | failed | suppressed
    code: int | None
    detail: str
    started_at: datetime
    finished_at: datetime
    recipient: str | None = None
    smtp_message_id: str | None = None
    sent_at: datetime | None = None  # the business clock's "now" (the Date header)


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        Message.status == "queued",
        and_(Message.status == "retrying", Message.next_attempt_at <= now),
        and_(Message.status == "sending", Message.lease_until <= now),
    )


def lease(session: Session, worker: str, limit: int, now: datetime, seconds: float) -> list[int]:
    """Take up to ``limit`` due messages for ``worker``; returns their ids."""
    due = (
        select(Message.id)
        .where(Message.status.in_(PENDING_STATES), _due(now))
        .order_by(Message.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    taken = session.execute(
        update(Message)
        .where(Message.id.in_(due))
        .values(
            status="sending",
            leased_by=worker,
            lease_until=now + timedelta(seconds=seconds),
            attempts=Message.attempts + 1,
        )
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(taken.scalars())


def next_due(session: Session, now: datetime) -> datetime | None:
    """When the earliest pending message becomes due (``now`` if one is); None if none."""
    if session.scalar(select(Message.id).where(Message.status == "queued").limit(1)):
        return now
    moments = [
        session.scalar(
            select(func.min(Message.next_attempt_at)).where(Message.status == "retrying")
        ),
        session.scalar(select(func.min(Message.lease_until)).where(Message.status == "sending")),
    ]
    found = [m for m in moments if m is not None]
    return max(now, min(found)) if found else None


def suppressed(session: Session, addresses: Sequence[str]) -> set[str]:
    lowered = {a.strip().lower() for a in addresses}
    return set(session.scalars(select(Suppression.address).where(Suppression.address.in_(lowered))))


def retry_at(now: datetime, attempt: int, base: float, cap: float) -> datetime:
    """Exponential backoff: base, 2×base, 4×base… never more than ``cap`` seconds."""
    return now + timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


def record(
    session: Session,
    worker: str,
    outcomes: Sequence[Outcome],
    *,
    max_attempts: int,
    backoff: float,
    backoff_max: float,
) -> set[int]:
    """Write outcomes for messages ``worker`` still holds; returns the ids it held."""
    held: set[int] = set()
    for o in outcomes:
        values: dict[str, object] = {"leased_by": None, "lease_until": None}
        if o.smtp_message_id:
            values["smtp_message_id"] = o.smtp_message_id
        if o.recipient:
            values["recipient"] = o.recipient
        if o.outcome == "sent":
            values.update(status="sent", sent_at=o.sent_at, last_error=None)
        elif o.outcome == "retry" and o.attempt < max_attempts:
            values.update(
                status="retrying",
                next_attempt_at=retry_at(o.finished_at, o.attempt, backoff, backoff_max),
                last_error=o.detail,
            )
        else:
            status = "suppressed" if o.outcome == "suppressed" else "failed"
            values.update(status=status, last_error=o.detail)
        changed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(Message)
            .where(
                Message.id == o.message_id, Message.leased_by == worker, Message.status == "sending"
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not changed.rowcount:
            continue  # the lease ran out and another sender has the message now
        held.add(o.message_id)
        session.add(
            DeliveryAttempt(
                message_id=o.message_id,
                attempt=o.attempt,
                worker=worker,
                started_at=o.started_at,
                finished_at=o.finished_at,
                outcome=o.outcome,
                smtp_code=o.code,
                detail=o.detail[:2000],
            )
        )
        if o.outcome == "failed" and o.code is not None and o.code >= 500 and o.recipient:
            suppress(session, o.recipient, o.finished_at, o.code, o.detail, o.message_id)
    session.flush()
    return held


def suppress(
    session: Session,
    address: str,
    at: datetime,
    code: int | None,
    reason: str,
    message_id: int | None = None,
) -> None:
    """Add an address to the suppression list (once; the first reason stays)."""
    insert = pg_insert if dialect(session) == "postgresql" else sqlite_insert
    session.execute(
        insert(Suppression)
        .values(
            address=address.strip().lower(),
            created_at=at,
            smtp_code=code,
            reason=reason[:2000],
            message_id=message_id,
        )
        .on_conflict_do_nothing()
    )
