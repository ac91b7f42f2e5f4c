"""Console: one campaign for review and action.

The planning preview (offers by mode, exclusions by reason, holdout, totals per
currency, the largest credits), the exact email sample customers get in each
locale, approval by approvers (two different people above budget), execution in
the background and a live progress bar fed by a small JSON endpoint.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.campaigns import preview as letters
from makegood.campaigns import service as campaigns
from makegood.campaigns.models import Approval, Campaign
from makegood.console.activity import (
    activity,
    cached_progress,
    charts_for,
    progress,
)
from makegood.console.auth import ApproverUser, ConsoleUser, OperatorUser, ViewerUser, checked_form
from makegood.console.execution import running, runs, start_execution
from makegood.console.letter_preview import cached_samples, letter_csp, letter_sample
from makegood.console.render import (
    flash,
    in_thread,
    not_found,
    page,
    renderer,
    take_flash,
)
from makegood.core.errors import ConflictError, MakegoodError, NotFoundError
from makegood.core.money import to_minor_units
from makegood.db.uow import UnitOfWork
from makegood.incidents.models import Incident
from makegood.kits.http.deps import Svc
from makegood.kits.root import Root
from makegood.policy.schema import parse_policy
from makegood.reports import backtest

router = APIRouter(include_in_schema=False)


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
        "channels": dict(data.get("channels", {})),
        "opted_out": int(data.get("opted_out", 0)),
        "sms_lengths": list(data.get("sms_lengths", [])),
    }


def _approvals(session: Session, campaign_id: int) -> list[Approval]:
    return list(
        session.scalars(
            select(Approval).where(Approval.campaign_id == campaign_id).order_by(Approval.id)
        )
    )


# The most impacts the page replays the draft's policy over; beyond, it says how to.
REPLAY_CAP = 100_000


def _replay(session: Session, campaign: Any, now: datetime) -> dict[str, Any]:
    """The draft's policy replayed over the other incidents of the last 12 months:
    what it would have cost, beside what was actually credited."""
    since = now - timedelta(days=365)
    others = [
        i for i in backtest.incidents_for(session, None, since) if i.id != campaign.incident_id
    ]
    if backtest.impacts_up_to(session, others, REPLAY_CAP) > REPLAY_CAP:
        # Too many to decide while the page waits: the command line does it.
        return {"incidents": len(others), "too_many": REPLAY_CAP, "since": since}
    found = backtest.backtest(
        session, parse_policy(campaign.policy_source), others, now, Decimal(0)
    )
    would: Counter[str] = Counter()
    likely: Counter[str] = Counter()
    actual: Counter[str] = Counter()
    for one in found:
        would.update(one.totals)
        for currency, (mid, _, _) in one.expected.items():
            likely[currency] += mid - one.claim_totals[currency]
        for by in one.actual.values():
            actual.update(by)
    return {
        "incidents": len(found),
        "offers": sum(one.offers for one in found),
        "cost": [{"currency": c, "minor": m} for c, m in sorted((would + likely).items())],
        "offered": [{"currency": c, "minor": m} for c, m in sorted(would.items())],
        "actual": [{"currency": c, "minor": m} for c, m in sorted(actual.items())],
        "since": since,
    }


def _show(
    request: Request,
    svc: Root,
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
        samples = cached_samples(svc, session, campaign)
        chosen = customer.strip() if customer and customer.strip() else None
        if chosen is None and samples:
            chosen = samples[0]["customer_id"]
        letter = letter_sample(svc, session, campaign, chosen) if chosen or samples else None
        act = activity(session, [campaign_id])
        now_progress = progress(campaign, act)
        charts = charts_for(session, act, f"c{campaign_id}")
        # Counted now, not at planning: a summary written since changes the answer.
        by_language = letters.languages(session, campaign, renderer(svc), svc.settings.company)[
            "letters"
        ]
        replay = _replay(session, campaign, svc.now()) if campaign.status == "draft" else None
    run = runs(svc).get(campaign_id)
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
        replay=replay,
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
        data = await in_thread(lambda: cached_progress(svc, campaign_id))
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
