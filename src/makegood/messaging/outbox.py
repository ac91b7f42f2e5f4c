"""The outbox as a work queue: senders lease messages, then record what happened.

A lease is one conditional update: the messages a sender takes are marked
'sending' with its name and an expiry, skipping rows another sender has locked
(PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite has one writer at a time). An
outcome is written only while the lease is still held, so a sender whose lease
ran out cannot overwrite what the next sender did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Table,
    and_,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from makegood.db.bulk import dialect, driver_connection, one_of
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
    provider_message_id: str | None = None
    sent_at: datetime | None = None  # the business clock's "now" (the Date header)
    channel: str = "email"


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


def release(session: Session, worker: str, ids: Sequence[int], now: datetime) -> None:
    """Give back leased messages this worker will not send (it is stopping): they
    are due again at once, and the attempt the lease counted is taken back."""
    if ids:
        session.execute(
            update(Message)
            .where(Message.id.in_(ids), Message.leased_by == worker, Message.status == "sending")
            .values(
                status=case((Message.attempts > 1, "retrying"), else_="queued"),
                next_attempt_at=now,
                leased_by=None,
                lease_until=None,
                attempts=Message.attempts - 1,
            )
            .execution_options(synchronize_session=False)
        )


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


def suppressed(session: Session, wanted: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (channel, address) pairs are suppressed (addresses lower-cased)."""
    lowered = {(channel, address.strip().lower()) for channel, address in wanted}
    found: set[tuple[str, str]] = set()
    for channel in {channel for channel, _ in lowered}:
        addresses = {address for c, address in lowered if c == channel}
        found.update(
            (channel, address)
            for address in session.scalars(
                select(Suppression.address).where(
                    Suppression.channel == channel, one_of(session, Suppression.address, addresses)
                )
            )
        )
    return found


def retry_at(now: datetime, attempt: int, base: float, cap: float) -> datetime:
    """Exponential backoff: base, 2×base, 4×base… never more than ``cap`` seconds."""
    return now + timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


def _changes(o: Outcome, max_attempts: int, backoff: float, backoff_max: float) -> dict[str, Any]:
    """The new state of one message after one outcome."""
    status, next_at, sent_at = o.outcome, None, None
    error: str | None = o.detail
    if o.outcome == "sent":
        error, sent_at = None, o.sent_at
    elif o.outcome == "retry" and o.attempt < max_attempts:
        status = "retrying"
        next_at = retry_at(o.finished_at, o.attempt, backoff, backoff_max)
    elif o.outcome != "suppressed":
        status = "failed"
    return {
        "mid": o.message_id,
        "status": status,
        "next_at": next_at,
        "error": error,
        "sent_at": sent_at,
        "provider_id": o.provider_message_id,
        "rcpt": o.recipient,
    }


def suppresses(o: Outcome) -> bool:
    """A channel's "failed for good" with the provider's code: that address refuses."""
    return o.outcome == "failed" and o.code is not None and bool(o.recipient)


def record(
    session: Session,
    worker: str,
    outcomes: Sequence[Outcome],
    *,
    max_attempts: int,
    backoff: float,
    backoff_max: float,
) -> set[int]:
    """Write outcomes for messages ``worker`` still holds; returns the ids it held.

    Senders call this for every few messages, so on PostgreSQL it is one statement
    for the whole group (see PG_RECORD); SQLite, in process, takes them row by row.
    """
    if not outcomes:
        return set()
    if dialect(session) == "postgresql":
        held = record_postgresql(
            driver_connection(session),
            worker,
            outcomes,
            max_attempts=max_attempts,
            backoff=backoff,
            backoff_max=backoff_max,
        )
    else:
        changes = [_changes(o, max_attempts, backoff, backoff_max) for o in outcomes]
        held = _record_sqlite(session, worker, outcomes, changes)
    for o in outcomes:  # those not held: the lease ran out
        if o.message_id in held and suppresses(o):
            suppress(
                session, o.channel, o.recipient or "", o.finished_at, o.code, o.detail, o.message_id
            )
    return held


# One round trip for a whole group: the new states arrive as one JSON array, the
# update keeps only rows this worker still holds, and the attempts are written for
# exactly those rows. The ids also come as an array so the planner looks them up by
# key; joined only to the JSON rows, it scanned every pending message. One statement
# is one transaction, so a sender may send it on a connection in autocommit mode.
PG_RECORD = """
    WITH v AS (
        SELECT * FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb)) AS v(
            mid bigint, status text, next_at timestamptz, error text, sent_at timestamptz,
            provider_id text, rcpt text, attempt int, started timestamptz, finished timestamptz,
            outcome text, code int, detail text)
    ), held AS (
        UPDATE messages AS m
        SET status = v.status, leased_by = NULL, lease_until = NULL,
            next_attempt_at = v.next_at, last_error = v.error,
            sent_at = coalesce(v.sent_at, m.sent_at),
            provider_message_id = coalesce(v.provider_id, m.provider_message_id),
            recipient = coalesce(v.rcpt, m.recipient)
        FROM v
        WHERE m.id = v.mid AND m.id = ANY(CAST(%(ids)s AS bigint[]))
          AND m.leased_by = %(worker)s AND m.status = 'sending'
        RETURNING m.id
    )
    INSERT INTO delivery_attempts
        (message_id, attempt, worker, started_at, finished_at, outcome, provider_code, detail)
    SELECT v.mid, v.attempt, %(worker)s, v.started, v.finished, v.outcome, v.code, v.detail
    FROM v JOIN held ON held.id = v.mid
    RETURNING message_id
    """


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _pg_row(o: Outcome, max_attempts: int, backoff: float, backoff_max: float) -> dict[str, Any]:
    row = _changes(o, max_attempts, backoff, backoff_max)
    row["next_at"] = _iso(row["next_at"])
    row["sent_at"] = _iso(row["sent_at"])
    row["attempt"] = o.attempt
    row["started"] = o.started_at.isoformat()
    row["finished"] = o.finished_at.isoformat()
    row["outcome"] = o.outcome
    row["code"] = o.code
    row["detail"] = o.detail[:2000]
    return row


def record_postgresql(
    connection: Any,
    worker: str,
    outcomes: Sequence[Outcome],
    *,
    max_attempts: int,
    backoff: float,
    backoff_max: float,
) -> set[int]:
    """PG_RECORD for ``outcomes`` on the session's psycopg connection; the ids ``worker``
    still held."""
    params = pg_record_params(worker, outcomes, max_attempts, backoff, backoff_max)
    found = connection.execute(PG_RECORD, params)
    return {message_id for (message_id,) in found.fetchall()}


def pg_record_params(
    worker: str, outcomes: Sequence[Outcome], max_attempts: int, backoff: float, backoff_max: float
) -> dict[str, str]:
    """PG_RECORD's parameters for a group of outcomes."""
    rows = [_pg_row(o, max_attempts, backoff, backoff_max) for o in outcomes]
    # The ids as an array literal: the driver adapts a text parameter faster than a list.
    ids = "{" + ",".join([str(o.message_id) for o in outcomes]) + "}"
    return {"rows": json.dumps(rows), "worker": worker, "ids": ids}


def _record_sqlite(
    session: Session, worker: str, outcomes: Sequence[Outcome], changes: list[dict[str, Any]]
) -> set[int]:
    # SQLite has one writer at a time: the first update takes the write lock, so
    # nothing changes between these statements.
    table = cast(Table, Message.__table__)
    held: set[int] = set()
    for change in changes:
        done: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(table)
            .where(
                table.c.id == change["mid"],
                table.c.leased_by == worker,
                table.c.status == "sending",
            )
            .values(
                status=change["status"],
                leased_by=None,
                lease_until=None,
                next_attempt_at=change["next_at"],
                last_error=change["error"],
                sent_at=func.coalesce(change["sent_at"], table.c.sent_at),
                provider_message_id=func.coalesce(
                    change["provider_id"], table.c.provider_message_id
                ),
                recipient=func.coalesce(change["rcpt"], table.c.recipient),
            )
        )
        if done.rowcount:
            held.add(change["mid"])
    attempts = [
        {
            "message_id": o.message_id,
            "attempt": o.attempt,
            "worker": worker,
            "started_at": o.started_at,
            "finished_at": o.finished_at,
            "outcome": o.outcome,
            "provider_code": o.code,
            "detail": o.detail[:2000],
        }
        for o in outcomes
        if o.message_id in held
    ]
    if attempts:
        session.execute(insert(cast(Table, DeliveryAttempt.__table__)), attempts)
    return held


def suppress(
    session: Session,
    channel: str,
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
            channel=channel,
            address=address.strip().lower(),
            created_at=at,
            provider_code=code,
            reason=reason[:2000],
            message_id=message_id,
        )
        .on_conflict_do_nothing()
    )
