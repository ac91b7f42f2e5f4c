"""Console: one campaign for review and action.

The planning preview (offers by mode, exclusions by reason, holdout, totals per
currency, the largest credits), the exact email sample customers get in each
locale, approval by approvers (two different people above budget), execution in
the background and a live progress bar fed by a small JSON endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from html.parser import HTMLParser
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import BigInteger, ColumnElement, Integer, case, cast, extract, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from starlette.concurrency import run_in_threadpool

from makegood.api.deps import Services, Svc
from makegood.campaigns import service as campaigns
from makegood.campaigns.execution import execute
from makegood.campaigns.models import Approval, Campaign, Offer
from makegood.console.auth import ApproverUser, ConsoleUser, OperatorUser, ViewerUser, checked_form
from makegood.console.charts import (
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
from makegood.console.render import HEADERS, money, page
from makegood.core.errors import ConflictError, MakegoodError, NotFoundError
from makegood.core.money import format_major, to_minor_units
from makegood.customers.models import Customer
from makegood.db.bulk import dialect
from makegood.db.uow import UnitOfWork
from makegood.incidents.models import Incident
from makegood.messaging import preview as letters
from makegood.messaging.models import Message
from makegood.messaging.rendering import Renderer, RenderError

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

T = TypeVar("T")
SETTLED = ("sent", "failed", "suppressed")
MESSAGE_STATES = ("queued", "sending", "retrying", "sent", "failed", "suppressed")
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
MODES = {"automatic": "Automatic credit", "claim": "Claim link"}


# ---------------------------------------------------------------- shared helpers


def flash(request: Request, kind: str, text: str) -> None:
    """A message for the next page this browser shows (kept in the signed session)."""
    request.session["flash"] = {"kind": kind, "text": text}


def take_flash(request: Request) -> dict[str, str] | None:
    found = request.session.pop("flash", None)
    return found if isinstance(found, dict) else None


def not_found(request: Request, message: str) -> Response:
    return page(request, "error.html", 404, title="Not found", message=message)


async def in_thread(work: Callable[[], T]) -> T:
    """Database work from an async route, off the event loop."""
    return await run_in_threadpool(work)


def shared(svc: Services, key: str, make: Callable[[], T]) -> T:
    """State the application keeps across requests (in its services), made once."""
    found = svc.extras.get(key)
    if found is None:
        found = svc.extras.setdefault(key, make())  # atomic: every thread gets the same
    return typing.cast(T, found)


def renderer(svc: Services) -> Renderer:
    return shared(svc, "console_renderer", lambda: Renderer(svc.settings.templates_dir))


# ---------------------------------------------------------------- activity data


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
    percent = 100.0 if done else (_share(settled, total) if total else 0.0)
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


def _cached_progress(svc: Services, campaign_id: int) -> dict[str, Any]:
    """Progress counted at most every PROGRESS_SECONDS per campaign, however many pages
    poll it; a campaign so large that counting takes a while is counted less often."""
    cache: dict[int, tuple[float, dict[str, Any]]] = shared(svc, "console_progress", dict)
    hit = cache.get(campaign_id)
    if hit is not None and time.monotonic() < hit[0]:
        return hit[1]
    started = time.monotonic()
    with UnitOfWork(svc.engine) as uow:
        campaign = campaigns.get(uow.session, campaign_id)
        found = progress(campaign, activity(uow.session, [campaign_id]))
    run = _runs(svc).get(campaign_id)
    found["execution_error"] = run.error if run else None
    if len(cache) > 256:
        cache.clear()
    took = time.monotonic() - started
    cache[campaign_id] = (time.monotonic() + max(PROGRESS_SECONDS, 2 * took), found)
    return found


# ---------------------------------------------------------------- background execution


@dataclass
class Execution:
    """An execution this process started: one thread, whoever pressed the button."""

    by: str
    started: datetime
    thread: threading.Thread | None = None
    error: str | None = None
    finished: bool = False
    result: dict[str, int] = field(default_factory=dict)


def _runs(svc: Services) -> dict[int, Execution]:
    found: dict[int, Execution] = shared(svc, "console_executions", dict)
    return found


def _runs_lock(svc: Services) -> threading.Lock:
    return shared(svc, "console_executions_lock", threading.Lock)


def running(svc: Services, campaign_id: int) -> bool:
    run = _runs(svc).get(campaign_id)
    return run is not None and not run.finished


def start_execution(svc: Services, campaign_id: int, actor: str) -> str:
    """Start executing in a background thread, at most once at a time per campaign in
    this process; the use case's row lock and status guard cover other processes.
    Returns what to tell the person who pressed the button."""
    with _runs_lock(svc):
        if running(svc, campaign_id):
            return "already"
        with UnitOfWork(svc.engine) as uow:
            status = campaigns.get(uow.session, campaign_id).status
        if status == "done":
            return "done"
        if status not in ("approved", "executing"):
            reason = "needs approval first" if status == "draft" else "was cancelled"
            raise ConflictError(f"Campaign {campaign_id} is {status}: it {reason}.")
        run = Execution(by=actor, started=svc.now())
        run.thread = threading.Thread(
            target=_execute,
            args=(svc, campaign_id, run),
            name=f"execute-{campaign_id}",
            daemon=True,
        )
        _runs(svc)[campaign_id] = run
        run.thread.start()
    return "started"


def _execute(svc: Services, campaign_id: int, run: Execution) -> None:
    try:
        result = execute(svc.engine, campaign_id, svc.now(), run.by, svc.settings.secret_key)
        run.result = {
            "granted": result.granted,
            "offered": result.offered,
            "messages": result.messages,
        }
    except MakegoodError as exc:
        run.error = exc.message
    except Exception as exc:  # the page must say it stopped, whatever stopped it
        log.exception("executing campaign %s failed", campaign_id)
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        run.finished = True


# ---------------------------------------------------------------- the email preview


class _Styles(HTMLParser):
    """Collects inline style attributes and <style> blocks of a letter."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attributes: set[str] = set()
        self.blocks: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "style" and value is not None:
                self.attributes.add(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.blocks.append(data)


def _sha256(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
    return f"'sha256-{digest}'"


def letter_csp(html: str) -> str:
    """The console's policy, letting through exactly the letter's own styles.

    A srcdoc frame inherits the page's Content-Security-Policy, and email HTML is
    styled inline; hashes admit those styles and nothing else.
    """
    found = _Styles()
    found.feed(html)
    found.close()
    hashes = sorted({_sha256(s) for s in (*found.attributes, *found.blocks)})
    base = HEADERS["Content-Security-Policy"]
    if not hashes:
        return base
    return base.replace("style-src 'self'", "style-src 'self' 'unsafe-hashes' " + " ".join(hashes))


def _samples(session: Session, campaign: Campaign) -> list[dict[str, str]]:
    offers = letters.samples(session, campaign)
    locales = dict(
        session.execute(
            select(Customer.customer_id, Customer.locale).where(
                Customer.customer_id.in_([o.customer_id for o in offers])
            )
        ).all()
    )
    return [
        {
            "customer_id": o.customer_id,
            "locale": str(locales.get(o.customer_id, "")),
            "mode": MODES.get(o.mode, o.mode),
        }
        for o in sorted(offers, key=lambda o: (str(locales.get(o.customer_id, "")), o.mode))
    ]


def _cached_samples(svc: Services, session: Session, campaign: Campaign) -> list[dict[str, str]]:
    """The samples only change when the campaign is planned again or changes state;
    finding them groups every offer, so a page reuses them until then."""
    cache: dict[int, tuple[object, list[dict[str, str]]]] = shared(svc, "console_samples", dict)
    key = (campaign.planned_at, campaign.status)
    hit = cache.get(campaign.id)
    if hit is not None and hit[0] == key:
        return hit[1]
    found = _samples(session, campaign)
    if len(cache) > 256:
        cache.clear()
    cache[campaign.id] = (key, found)
    return found


def _letter(
    svc: Services, session: Session, campaign: Campaign, customer: str | None
) -> dict[str, Any]:
    try:
        offer, letter, mail = letters.preview(
            session,
            campaign,
            renderer(svc),
            svc.settings.company,
            svc.settings.base_url,
            svc.now(),
            customer,
        )
    except NotFoundError:
        who = f"Customer {customer}" if customer else "Nobody"
        return {
            "missing": f"{who} gets no email from this campaign (not in it, held out or "
            "excluded by the policy)."
        }
    except (RenderError, ValueError) as exc:
        return {"error": f"The letter does not render: {exc}"}
    headers = mail.readable_headers()
    return {
        "customer_id": offer.customer_id,
        "mode": MODES.get(offer.mode, offer.mode),
        "kind": offer.mode,
        "amount": money(offer.amount_minor, offer.currency),
        "status": offer.status,
        "locale": letter.locale,
        "subject": letter.subject,
        "text": letter.text,
        "html": letter.html,
        "headers": {
            k: headers[k] for k in ("From", "To", "Reply-To", "Subject", "Date") if k in headers
        },
    }


# ---------------------------------------------------------------- the page


def _minor(amount: str, currency: str) -> int:
    return to_minor_units(Decimal(amount), currency)


def _preview_view(data: dict[str, Any]) -> dict[str, Any]:
    """The stored preview with amounts back in minor units, for the money filter."""
    totals = data.get("totals", {})
    budget = data.get("budget", {})
    largest: dict[str, list[dict[str, Any]]] = {}
    for row in data.get("largest", []):
        largest.setdefault(row["currency"], []).append(
            {"customer_id": row["customer_id"], "amount": _minor(row["amount"], row["currency"])}
        )
    return {
        "offers": int(data.get("offers", 0)),
        "automatic": int(data.get("automatic", 0)),
        "claim": int(data.get("claim", 0)),
        "excluded": int(data.get("excluded", 0)),
        "excluded_by_reason": dict(data.get("excluded_by_reason", {})),
        "held_out": int(data.get("held_out", 0)),
        "totals": [
            {
                "currency": c,
                "amount": _minor(t, c),
                "budget": _minor(budget[c], c) if c in budget else None,
                "over": c in data.get("over_budget", {}),
            }
            for c, t in totals.items()
        ],
        "largest": largest,
    }


def _approvals(session: Session, campaign_id: int) -> list[Approval]:
    return list(
        session.scalars(
            select(Approval).where(Approval.campaign_id == campaign_id).order_by(Approval.id)
        )
    )


def _show(
    request: Request,
    svc: Services,
    user: ConsoleUser,
    campaign_id: int,
    customer: str | None = None,
    status: int = 200,
    message: dict[str, str] | None = None,
) -> Response:
    with UnitOfWork(svc.engine) as uow:
        session = uow.session
        try:
            campaign = campaigns.get(session, campaign_id)
        except NotFoundError:
            return not_found(request, f"There is no campaign {campaign_id}.")
        incident = session.get(Incident, campaign.incident_id)
        approvals = _approvals(session, campaign_id)
        samples = _cached_samples(svc, session, campaign)
        chosen = customer.strip() if customer and customer.strip() else None
        if chosen is None and samples:
            chosen = samples[0]["customer_id"]
        letter = _letter(svc, session, campaign, chosen) if chosen or samples else None
        act = activity(session, [campaign_id])
        now_progress = progress(campaign, act)
        charts = charts_for(session, act, f"c{campaign_id}")
        # Counted now, not at planning: a summary written since changes the answer.
        by_language = letters.languages(session, campaign, renderer(svc), svc.settings.company)[
            "letters"
        ]
    run = _runs(svc).get(campaign_id)
    if message is None and run is not None and run.error:
        message = {"kind": "error", "text": f"Execution stopped: {run.error}"}
    approved_by = [a.approver for a in approvals]
    response = page(
        request,
        "campaign.html",
        status,
        flash=message or take_flash(request),
        campaign=campaign,
        incident=incident,
        preview=_preview_view(campaign.preview or {}) | {"letters": by_language},
        approvals=approvals,
        samples=samples,
        chosen=chosen,
        letter=letter,
        progress=now_progress,
        charts=charts,
        executing_here=running(svc, campaign_id),
        can_approve=user.can("approver")
        and campaign.status == "draft"
        and user.username not in approved_by,
        already_approved=user.username in approved_by,
        can_operate=user.can("operator"),
        short_digest=(campaign.policy_digest or "")[:12],
    )
    if letter and letter.get("html"):
        response.headers["Content-Security-Policy"] = letter_csp(letter["html"])
    return response


@router.get("/console/campaigns/{campaign_id}")
async def campaign_page(
    request: Request, svc: Svc, user: ViewerUser, campaign_id: int, customer: str = ""
) -> Response:
    return await in_thread(lambda: _show(request, svc, user, campaign_id, customer[:200]))


@router.get("/console/campaigns/{campaign_id}/progress")
async def campaign_progress(svc: Svc, user: ViewerUser, campaign_id: int) -> Response:
    try:
        data = await in_thread(lambda: _cached_progress(svc, campaign_id))
    except NotFoundError as exc:
        return JSONResponse({"error": exc.message}, status_code=404)
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


@router.post("/console/campaigns/{campaign_id}/approve")
async def approve_campaign(
    request: Request, svc: Svc, user: ApproverUser, campaign_id: int
) -> Response:
    await checked_form(request)

    def work() -> Campaign:
        with UnitOfWork(svc.engine) as uow:
            found = campaigns.approve(uow.session, campaign_id, user.username, svc.now())
            uow.commit()
            return found

    try:
        campaign = await in_thread(work)
    except NotFoundError:
        return not_found(request, f"There is no campaign {campaign_id}.")
    except MakegoodError as exc:
        text = exc.message
        if isinstance(exc, ConflictError) and f"already approved by {user.username}" in text:
            text = (
                "You have already approved this campaign. It is over budget, so it needs a "
                "second approval from someone else: the same person cannot approve it twice."
            )
        refused = {"kind": "error", "text": text}
        return await in_thread(
            lambda: _show(request, svc, user, campaign_id, status=409, message=refused)
        )
    if campaign.status == "approved":
        flash(request, "ok", f"Campaign {campaign_id} is approved and ready to execute.")
    else:
        flash(
            request,
            "ok",
            "Your approval is recorded. The plan is over budget: a second, different "
            "approver must approve it too.",
        )
    return RedirectResponse(f"/console/campaigns/{campaign_id}", status_code=303)


@router.post("/console/campaigns/{campaign_id}/execute")
async def execute_campaign(
    request: Request, svc: Svc, user: OperatorUser, campaign_id: int
) -> Response:
    await checked_form(request)
    try:
        outcome = await in_thread(lambda: start_execution(svc, campaign_id, user.username))
    except NotFoundError:
        return not_found(request, f"There is no campaign {campaign_id}.")
    except MakegoodError as exc:
        refused = {"kind": "error", "text": exc.message}
        return await in_thread(
            lambda: _show(request, svc, user, campaign_id, status=409, message=refused)
        )
    flash(
        request,
        "ok",
        {
            "started": "Execution started: credits are being granted and emails queued. "
            "This page follows its progress.",
            "already": "This campaign is already executing; its progress is below.",
            "done": "This campaign was already executed; nothing was done twice.",
        }[outcome],
    )
    return RedirectResponse(f"/console/campaigns/{campaign_id}", status_code=303)


@router.post("/console/campaigns/{campaign_id}/cancel")
async def cancel_campaign(
    request: Request, svc: Svc, user: OperatorUser, campaign_id: int
) -> Response:
    await checked_form(request)

    def work() -> None:
        with UnitOfWork(svc.engine) as uow:
            campaigns.cancel(uow.session, campaign_id, svc.now(), user.username)
            uow.commit()

    try:
        await in_thread(work)
    except NotFoundError:
        return not_found(request, f"There is no campaign {campaign_id}.")
    except MakegoodError as exc:
        refused = {"kind": "error", "text": exc.message}
        return await in_thread(
            lambda: _show(request, svc, user, campaign_id, status=409, message=refused)
        )
    flash(request, "ok", f"Campaign {campaign_id} is cancelled; its planned offers are removed.")
    return RedirectResponse(f"/console/campaigns/{campaign_id}", status_code=303)


def campaign_ids(campaigns_: Iterable[Campaign]) -> list[int]:
    """The campaigns whose activity counts (a cancelled one never sent anything)."""
    return [c.id for c in campaigns_ if c.status != "cancelled"]


__all__ = ["activity", "charts_for", "progress", "router"]
