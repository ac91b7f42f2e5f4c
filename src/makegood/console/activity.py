"""Console: what a campaign has done so far, counted from its rows: messages sent
over time, claims, credits per currency, and the progress the campaign page polls."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from markupsafe import Markup
from sqlalchemy import BigInteger, ColumnElement, Integer, case, cast, extract, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from makegood.campaigns import service as campaigns
from makegood.campaigns.models import Campaign
from makegood.console.execution import runs
from makegood.console.render import (
    money,
)
from makegood.core.money import format_major
from makegood.credits.models import Offer
from makegood.db.bulk import dialect
from makegood.db.uow import UnitOfWork
from makegood.kits.charts.series import (
    Bar,
    Segment,
    Series,
    Stack,
    bar_chart,
    bucket_origin,
    padded,
    pick_step,
    share_chart,
    time_chart,
)
from makegood.kits.ports import Port
from makegood.kits.root import Root
from makegood.messaging.models import Message

SETTLED = ("sent", "failed", "suppressed", "bounced")


MESSAGE_STATES = ("queued", "sending", "retrying", "sent", "failed", "suppressed", "bounced")
# Offer states in the order a reader follows them, with how the credit chart names them.


# Offer states in the order a reader follows them, with how the credit chart names them.
CREDIT_STATES = {
    "planned": "Planned",
    "granted": "Granted automatically",
    "offered": "Offered, not claimed",
    "claimed": "Claimed",
    "expired": "Expired unclaimed",
    "voided": "Voided",
}


PROGRESS_SECONDS = 1.0  # the progress JSON is counted at most this often per campaign


@dataclass
class Activity:
    """What a set of campaigns has done, read in one pass over offers and one over
    messages (each a scan of the campaigns' rows; a page reads it once)."""

    # campaign -> offer status -> currency -> (offers, amount in minor units)
    offers: dict[int, dict[str, dict[str, tuple[int, int]]]] = field(default_factory=dict)
    # campaign -> message status -> first sends (a support resend is not progress)
    messages: dict[int, dict[str, int]] = field(default_factory=dict)
    # second since the epoch -> messages sent in it (the finest a chart is drawn at)
    sent_per_second: dict[int, int] = field(default_factory=dict)
    claimed: tuple[datetime | None, datetime | None] = (None, None)
    campaign_ids: list[int] = field(default_factory=list)


def activity(session: Session, campaign_ids: list[int]) -> Activity:
    found = Activity(campaign_ids=list(campaign_ids))
    if not campaign_ids:
        return found
    claimed: list[datetime] = []
    for campaign_id, status, currency, n, amount, first, last in session.execute(
        select(
            Offer.campaign_id,
            Offer.status,
            Offer.currency,
            func.count(),
            func.sum(Offer.amount_minor),
            func.min(Offer.claimed_at),
            func.max(Offer.claimed_at),
        )
        .where(Offer.campaign_id.in_(campaign_ids))
        .group_by(Offer.campaign_id, Offer.status, Offer.currency)
    ):
        by_status = found.offers.setdefault(int(campaign_id), {}).setdefault(str(status), {})
        by_status[str(currency)] = (int(n), int(amount or 0))
        claimed.extend(t for t in (first, last) if t is not None)
    # Sent messages are counted per second in the same pass, for the chart.
    first_send = (Message.sequence == 1).label("first_send")
    second = case(
        (Message.status == "sent", epoch_seconds(session, Message.sent_at)), else_=None
    ).label("second")
    for campaign_id, status, is_first, at, n in session.execute(
        select(Message.campaign_id, Message.status, first_send, second, func.count())
        .where(Message.campaign_id.in_(campaign_ids))
        .group_by(Message.campaign_id, Message.status, first_send, second)
    ):
        if is_first:
            counts = found.messages.setdefault(int(campaign_id), {})
            counts[str(status)] = counts.get(str(status), 0) + int(n)
        if at is not None:
            found.sent_per_second[int(at)] = found.sent_per_second.get(int(at), 0) + int(n)
    found.claimed = (min(claimed), max(claimed)) if claimed else (None, None)
    return found


def epoch_seconds(session: Session, column: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    """Whole seconds since the epoch of a UTC instant column, in SQL."""
    if dialect(session) == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def bucketed(per_second: dict[int, int]) -> Series | None:
    """Counts per second, gathered into the buckets of a chart."""
    if not per_second:
        return None
    first = datetime.fromtimestamp(min(per_second), UTC)
    last = datetime.fromtimestamp(max(per_second), UTC)
    step = pick_step((last - first).total_seconds())
    base = int(bucket_origin(first, step).timestamp())
    counts: dict[int, int] = {}
    for at, n in per_second.items():
        counts[(at - base) // step] = counts.get((at - base) // step, 0) + n
    size = max(counts) + 1
    return padded(
        Series(
            datetime.fromtimestamp(base, UTC),
            timedelta(seconds=step),
            tuple(counts.get(i, 0) for i in range(size)),
        )
    )


def over_time(
    session: Session,
    column: InstrumentedAttribute[Any],
    span: tuple[datetime | None, datetime | None],
    *where: ColumnElement[bool],
) -> Series | None:
    """How many rows have ``column`` in each bucket of time over ``span`` (the column's
    first and last values); None when there are none."""
    first, last = span
    if first is None or last is None:
        return None
    step = pick_step((last - first).total_seconds())
    origin = bucket_origin(first, step)
    base = int(origin.timestamp())
    bucket = ((epoch_seconds(session, column) - base) // step).label("bucket")
    counts = {
        int(b): int(n)
        for b, n in session.execute(select(bucket, func.count()).where(*where).group_by(bucket))
    }
    if not counts:
        return None
    size = max(int(b) for b in counts) + 1
    return padded(
        Series(origin, timedelta(seconds=step), tuple(int(counts.get(i, 0)) for i in range(size)))
    )


def claim_series(session: Session, act: Activity) -> Series | None:
    return over_time(
        session,
        Offer.claimed_at,
        act.claimed,
        Offer.campaign_id.in_(act.campaign_ids),
        Offer.claimed_at.is_not(None),
    )


@dataclass
class CurrencyCredits:
    currency: str
    bars: list[Bar]
    credited_minor: int  # granted + claimed: what customers actually got
    offered_minor: int  # everything offered or planned, whatever became of it


def credit_totals(act: Activity) -> list[CurrencyCredits]:
    """Offer amounts per currency and state (held-out offers are never credited)."""
    found: dict[str, dict[str, tuple[int, int]]] = {}
    for statuses in act.offers.values():
        for status, currencies in statuses.items():
            if status == "held_out":
                continue
            for currency, (n, amount) in currencies.items():
                was_n, was_amount = found.setdefault(currency, {}).get(status, (0, 0))
                found[currency][status] = (was_n + n, was_amount + amount)
    out = []
    for currency in sorted(found):
        states = found[currency]
        bars = [
            Bar(
                label,
                states[status][1],
                status,
                f"{money(states[status][1], currency)} · {states[status][0]:,}",
            )
            for status, label in CREDIT_STATES.items()
            if status in states
        ]
        credited = sum(states.get(s, (0, 0))[1] for s in ("granted", "claimed"))
        out.append(CurrencyCredits(currency, bars, credited, sum(a for _, a in states.values())))
    return out


def charts_for(session: Session, act: Activity, key: str) -> dict[str, Any]:
    """The three activity charts (or None where there is nothing to draw)."""
    sent = bucketed(act.sent_per_second)
    claims = claim_series(session, act)
    credits = credit_totals(act)
    return {
        "sent": sent
        and time_chart(
            sent,
            key=f"{key}-sent",
            title="Messages sent over time",
            desc=f"{sent.total:,} apologies handed to the mail relay, running total by "
            f"{_duration(sent.step)} from {sent.start:%Y-%m-%d %H:%M:%S} UTC.",
            cumulative=True,
            y_label="messages sent",
        ),
        "sent_total": sent.total if sent else 0,
        "claims": claims
        and time_chart(
            claims,
            key=f"{key}-claims",
            title="Claims over time",
            desc=f"{claims.total:,} claim links used, per {_duration(claims.step)} "
            f"from {claims.start:%Y-%m-%d %H:%M} UTC.",
            y_label="claims",
        ),
        "claims_total": claims.total if claims else 0,
        "credits": _credit_chart(credits, key),
        "credit_rows": credits,
    }


def _credit_chart(credits: list[CurrencyCredits], key: str) -> Markup | None:
    """One currency: its amounts by state on a money axis. Several: each currency's
    split by state, as shares (amounts in different currencies share no axis)."""
    if not credits:
        return None
    title = "Credit totals per currency"
    desc = " ".join(
        f"{c.currency}: " + "; ".join(f"{b.label} {b.note}" for b in c.bars) + "." for c in credits
    )
    if len(credits) == 1:
        only = credits[0]
        return bar_chart(
            only.bars,
            key=f"{key}-credits",
            title=title,
            desc=desc,
            fmt=partial(_axis_money, currency=only.currency),
            axis_label=f"{only.currency} (offers in each state)",
        )
    return share_chart(
        [
            Stack(
                c.currency,
                tuple(Segment(b.kind, b.label, b.value, b.note) for b in c.bars),
                f"{money(c.credited_minor, c.currency)} of {money(c.offered_minor, c.currency)}",
            )
            for c in credits
        ],
        key=f"{key}-credits",
        title=title,
        desc=desc,
    )


def _axis_money(minor: int, currency: str) -> str:
    text = format_major(minor, currency)
    whole, _, cents = text.partition(".")
    if cents and set(cents) == {"0"}:
        text = whole
    return f"{int(text):,}" if text.lstrip("-").isdigit() else text


def _duration(step: timedelta) -> str:
    seconds = int(step.total_seconds())
    for size, name in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % size == 0:
            n = seconds // size
            return name if n == 1 else f"{n} {name}s"
    return f"{seconds} seconds"  # pragma: no cover


# ---------------------------------------------------------------- progress


def progress(campaign: Campaign, act: Activity) -> dict[str, Any]:
    """Where execution and sending stand: offers executed, messages by state."""
    offers = {
        status: sum(n for n, _ in currencies.values())
        for status, currencies in act.offers.get(campaign.id, {}).items()
    }
    total = sum(n for status, n in offers.items() if status != "held_out")
    planned = offers.get("planned", 0)
    counted = act.messages.get(campaign.id, {})
    messages = {state: int(counted.get(state, 0)) for state in MESSAGE_STATES}
    settled = sum(messages[s] for s in SETTLED)
    pending = sum(messages[s] for s in ("queued", "sending", "retrying"))
    executed = total - planned
    done = campaign.status == "done" and pending == 0
    # A customer reached by email and SMS has two messages for one offer.
    expected = max(total, sum(messages.values()))
    percent = 100.0 if done else (_share(settled, expected) if expected else 0.0)
    phase = {
        "draft": "Waiting for approval",
        "approved": "Approved, not yet executed",
        "executing": "Executing: granting credits and queuing emails",
        "cancelled": "Cancelled",
    }.get(campaign.status, "Sending" if pending else "Done")
    if done:
        phase = "Done: every apology is out"
    return {
        "campaign": campaign.id,
        "status": campaign.status,
        "phase": phase,
        "offers": {"total": total, "executed": executed, "planned": planned},
        "messages": {**messages, "total": sum(messages.values()), "settled": settled},
        "percent": percent,
        "executed_percent": _share(executed, total) if total else 0.0,
        "done": done,
    }


def _share(part: int, whole: int) -> float:
    # Floor to one decimal: 99.96% shows as 99.9, never as a premature 100.
    return int(part * 1000 / whole) / 10 if whole else 0.0


PROGRESS_CACHE: Port[dict[int, tuple[float, dict[str, Any]]]] = Port(
    "console progress cache", lambda _: {}
)


def cached_progress(svc: Root, campaign_id: int) -> dict[str, Any]:
    """Progress counted at most every PROGRESS_SECONDS per campaign, however many pages
    poll it; a campaign so large that counting takes a while is counted less often."""
    cache = svc.port(PROGRESS_CACHE)
    hit = cache.get(campaign_id)
    if hit is not None and time.monotonic() < hit[0]:
        return hit[1]
    started = time.monotonic()
    with UnitOfWork(svc.engine) as uow:
        campaign = campaigns.get(uow.session, campaign_id)
        found = progress(campaign, activity(uow.session, [campaign_id]))
    run = runs(svc).get(campaign_id)
    found["execution_error"] = run.error if run else None
    if len(cache) > 256:
        cache.clear()
    took = time.monotonic() - started
    cache[campaign_id] = (time.monotonic() + max(PROGRESS_SECONDS, 2 * took), found)
    return found


# ---------------------------------------------------------------- background execution


def campaign_ids(campaigns_: Iterable[Campaign]) -> list[int]:
    """The campaigns whose activity counts (a cancelled one never sent anything)."""
    return [c.id for c in campaigns_ if c.status != "cancelled"]
