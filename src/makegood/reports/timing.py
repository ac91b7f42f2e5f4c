"""How fast the apology went out and how claims came in, counted from the outbox and
the offers.

A customer counts as apologised to at their first message the mail relay accepted
(``sent_at``); a support resend never moves that moment later. Buckets of time are
counted in SQL, so a campaign of millions is read as a few dozen rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, cast, extract, func, select
from sqlalchemy.orm import Session

from makegood.credits.models import Offer
from makegood.db.bulk import dialect
from makegood.kits.charts.series import Series, bucket_origin, pick_step
from makegood.messaging.models import Message
from makegood.reports.rules import median


@dataclass(frozen=True)
class TimeToApology:
    incident_end: datetime | None  # None while the incident is still open
    customers: int  # customers with at least one message the relay accepted
    first_accepted: datetime | None  # the first customer's first accepted message
    last_accepted: datetime | None  # the last customer's first accepted message
    median_first: datetime | None  # the median customer's first accepted message
    over_time: Series | None  # customers reached per bucket, from the incident end

    @property
    def to_last(self) -> timedelta | None:
        """Incident end to the moment the last customer had their apology."""
        if self.incident_end is None or self.last_accepted is None:
            return None
        return self.last_accepted - self.incident_end

    @property
    def median(self) -> timedelta | None:
        """The median over customers of (first accepted message - incident end)."""
        if self.incident_end is None or self.median_first is None:
            return None
        return self.median_first - self.incident_end


NO_APOLOGY = TimeToApology(None, 0, None, None, None, None)


def epoch_seconds(session: Session, column: Any) -> ColumnElement[Any]:
    """Whole seconds since the epoch of a UTC instant, in SQL."""
    if dialect(session) == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def time_to_apology(
    session: Session, campaign_id: int, incident_end: datetime | None
) -> TimeToApology:
    """Incident end to the last apology accepted, and the median customer's wait."""
    first = (
        select(Message.customer_id, func.min(Message.sent_at).label("at"))
        .where(
            Message.campaign_id == campaign_id,
            Message.status == "sent",
            Message.sent_at.is_not(None),
        )
        .group_by(Message.customer_id)
        .subquery()
    )
    customers, earliest, latest = session.execute(
        select(func.count(), func.min(first.c.at), func.max(first.c.at))
    ).one()
    if not customers:
        return TimeToApology(incident_end, 0, None, None, None, None)
    n = int(customers)
    # The middle one or two of the sorted first moments: portable, no percentile function.
    middle = list(
        session.scalars(
            select(first.c.at).order_by(first.c.at).offset((n - 1) // 2).limit(2 - n % 2)
        )
    )
    base = _utc(middle[0])
    centre = median([_utc(m) - base for m in middle])
    # From the end of the incident, so the chart shows the wait as well as the sending.
    since = _utc(earliest) if incident_end is None else min(incident_end, _utc(earliest))
    series = _buckets(session, first, (since, _utc(latest)))
    return TimeToApology(
        incident_end=incident_end,
        customers=n,
        first_accepted=_utc(earliest),
        last_accepted=_utc(latest),
        median_first=None if centre is None else base + centre,
        over_time=series,
    )


def claims_over_time(session: Session, campaign_id: int, since: datetime | None) -> Series | None:
    """Claims per bucket of time, from ``since`` (the first apology accepted) or the
    first claim, to the last claim; None when nobody has claimed."""
    where = (Offer.campaign_id == campaign_id, Offer.claimed_at.is_not(None))
    first, last = session.execute(
        select(func.min(Offer.claimed_at), func.max(Offer.claimed_at)).where(*where)
    ).one()
    if first is None or last is None:
        return None
    start = _utc(first) if since is None else min(since, _utc(first))
    rows = select(Offer.claimed_at.label("at")).where(*where).subquery()
    return _buckets(session, rows, (start, _utc(last)))


def _buckets(session: Session, rows: Any, span: tuple[datetime, datetime]) -> Series:
    """How many of ``rows`` (a subquery with an instant ``at``) fall in each bucket of
    time over ``span``."""
    first, last = span
    step = pick_step(max(1.0, (last - first).total_seconds()))
    origin = bucket_origin(first, step)
    bucket = ((epoch_seconds(session, rows.c.at) - int(origin.timestamp())) // step).label("bucket")
    counts = {
        int(b): int(n) for b, n in session.execute(select(bucket, func.count()).group_by(bucket))
    }
    size = max(counts, default=0) + 1
    return Series(origin, timedelta(seconds=step), tuple(counts.get(i, 0) for i in range(size)))


def _utc(moment: datetime) -> datetime:
    """Aggregates over a UTC column come back naive from SQLite."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
