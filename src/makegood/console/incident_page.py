"""Console: one incident, from declaration to the last apology sent.

Its timeline (declared, resolved, impact found, planned, approved, executed,
sending, done), who it hurt by confidence with example evidence, its campaigns,
and what an operator does next: resolve it, find its impact, plan a campaign.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from makegood.billing.standing import standing
from makegood.campaigns.models import EXECUTED_STATES, Campaign
from makegood.campaigns.planning import plan
from makegood.campaigns.preview import check_templates
from makegood.console.activity import activity, campaign_ids, charts_for, progress
from makegood.console.auth import ConsoleUser, OperatorUser, ViewerUser, checked_form
from makegood.console.incident_timeline import actors_of, timeline
from makegood.console.incidents import _instant
from makegood.console.render import (
    flash,
    in_thread,
    not_found,
    page,
    renderer,
    take_flash,
    unit_for,
)
from makegood.core.errors import InvalidInputError, MakegoodError, NotFoundError
from makegood.db.uow import UnitOfWork
from makegood.impact.models import Impact, ImpactRun
from makegood.impact.service import run_for
from makegood.incidents import service as incidents
from makegood.incidents.models import Incident
from makegood.kits.http.deps import Svc
from makegood.kits.root import Root
from makegood.policy.schema import parse_policy
from makegood.policy.seed import seed_policy_text
from makegood.reports.service import delivery_of

router = APIRouter(include_in_schema=False)


EXAMPLES = 4  # evidence rows shown for each confidence


CONFIDENCE_HELP = {
    "confirmed": "The data shows they were hurt: errors in the window, or a late shipment.",
    "possible": "They usually use the service at this time and did not: likely hurt.",
}


def _evidence(text: str) -> list[str]:
    """Evidence JSON as short lines a person reads: one per finding."""
    try:
        items = json.loads(text)
    except ValueError:
        return [text[:300]]
    if not isinstance(items, list):
        items = [items]
    return [_flat(item)[:400] for item in items]


def _flat(value: Any) -> str:
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] in " T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return value
    if isinstance(value, dict):
        return ", ".join(
            f"{k.replace('_', ' ')} {_flat(v)}" for k, v in value.items() if k != "rule"
        )
    if isinstance(value, list):
        return "[" + "; ".join(_flat(v) for v in value) + "]"
    if value is None:
        return "—"
    return str(value)


def _examples(session: Session, incident_id: int) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for confidence in ("confirmed", "possible"):
        rows = session.scalars(
            select(Impact)
            .where(Impact.incident_id == incident_id, Impact.confidence == confidence)
            .order_by(Impact.customer_id)  # the key's order: no sort of every impact
            .limit(EXAMPLES)
        ).all()
        out[confidence] = [
            {
                "customer_id": r.customer_id,
                "magnitude": r.magnitude,
                "unit": unit_for(r.rule, r.magnitude),
                "rule": r.rule,
                "evidence": _evidence(r.evidence),
            }
            for r in rows
        ]
    return out


def _rules(session: Session, incident_id: int) -> dict[str, dict[str, int]]:
    """Impacts per (confidence, rule)."""
    out: dict[str, dict[str, int]] = {}
    for confidence, rule, n in session.execute(
        select(Impact.confidence, Impact.rule, func.count())
        .where(Impact.incident_id == incident_id)
        .group_by(Impact.confidence, Impact.rule)
    ):
        out.setdefault(str(confidence), {})[str(rule)] = int(n)
    return out


def _records(session: Session, incident_id: int) -> tuple[list[ImpactRun], list[Campaign]]:
    """The incident's impact runs and campaigns, oldest first."""
    runs = list(
        session.scalars(
            select(ImpactRun).where(ImpactRun.incident_id == incident_id).order_by(ImpactRun.id)
        )
    )
    campaigns = list(
        session.scalars(
            select(Campaign).where(Campaign.incident_id == incident_id).order_by(Campaign.id)
        )
    )
    return runs, campaigns


def _actions(
    incident: Incident,
    runs: list[ImpactRun],
    campaigns: list[Campaign],
    form: dict[str, str] | None,
) -> dict[str, Any]:
    """What an operator may do next, and the planning form's values."""
    executed = any(c.status in EXECUTED_STATES for c in campaigns)
    blocking = next((c for c in campaigns if c.status in ("approved", *EXECUTED_STATES)), None)
    values = form or {}
    draft = next((c for c in campaigns if c.status == "draft"), None)
    return {
        "can_run_impact": incident.end_at is not None and not executed,
        "can_plan": bool(runs) and blocking is None,
        "blocking": blocking,
        "draft": draft,
        # Planning again starts from the draft's policy; a first plan from the seed's.
        "policy_text": values.get(
            "policy", draft.policy_source if draft and draft.policy_source else seed_policy_text()
        ),
        "holdout": values.get("holdout", "0"),
        "end_value": values.get("end", ""),
    }


def _view(
    request: Request,
    svc: Root,
    user: ConsoleUser,
    incident_id: int,
    status: int = 200,
    message: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    problems: list[str] | None = None,
) -> Response:
    with UnitOfWork(svc.engine) as uow:
        session = uow.session
        try:
            incident = incidents.get(session, incident_id)
        except NotFoundError:
            return not_found(request, f"There is no incident {incident_id}.")
        runs, campaigns = _records(session, incident_id)
        act = activity(session, campaign_ids(campaigns))
        actors = actors_of(session, incident, runs, campaigns)
        steps, current = timeline(session, incident, runs, campaigns, actors, act)
        rows = [
            {"campaign": c, "progress": progress(c, act) if c.status != "cancelled" else None}
            for c in reversed(campaigns)
        ]
        charts = charts_for(session, act, f"i{incident_id}")
        examples = _examples(session, incident_id)
        rules = _rules(session, incident_id)
        counts = {c: sum((rules.get(c) or {}).values()) for c in ("confirmed", "possible")}
        billing = standing(session, incident_id=incident_id)
        live = [c for c in campaigns if c.status != "cancelled"]
        delivery = delivery_of(session, live[-1].id) if live else None
    return page(
        request,
        "incident.html",
        status,
        flash=message or take_flash(request),
        incident=incident,
        incident_status="open" if incident.end_at is None else "resolved",
        counts=counts,
        examples=examples,
        rules=rules,
        help=CONFIDENCE_HELP,
        runs=runs,
        last_run=runs[-1] if runs else None,
        steps=steps,
        current=current,
        rows=rows,
        charts=charts,
        billing=billing,
        delivery=delivery,
        can_operate=user.can("operator"),
        **_actions(incident, runs, campaigns, form),
        problems=problems or [],
        duration=_duration(incident),
    )


def _duration(incident: Incident) -> str:
    if incident.end_at is None:
        return "ongoing"
    minutes = int((incident.end_at - incident.start_at).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = (
        [f"{days} d"] * bool(days)
        + [f"{hours} h"] * bool(hours)
        + [f"{minutes} min"] * bool(minutes)
    )
    return " ".join(parts) or "under a minute"


@router.get("/console/incidents/{incident_id}")
async def incident_page(request: Request, svc: Svc, user: ViewerUser, incident_id: int) -> Response:
    return await in_thread(lambda: _view(request, svc, user, incident_id))


# ---------------------------------------------------------------- acting


async def _failed(
    request: Request,
    svc: Root,
    user: ConsoleUser,
    incident_id: int,
    exc: MakegoodError,
    form: dict[str, str] | None = None,
) -> Response:
    if isinstance(exc, NotFoundError):
        return not_found(request, f"There is no incident {incident_id}.")
    status = 422 if isinstance(exc, InvalidInputError) else 409
    problems = exc.problems if isinstance(exc, InvalidInputError) else []
    text = exc.message.split("\n", 1)[0] if problems else exc.message
    return await in_thread(
        lambda: _view(
            request,
            svc,
            user,
            incident_id,
            status,
            {"kind": "error", "text": text},
            form,
            problems,
        )
    )


@router.post("/console/incidents/{incident_id}/resolve")
async def resolve_incident(
    request: Request, svc: Svc, user: OperatorUser, incident_id: int
) -> Response:
    form = await checked_form(request)

    def work() -> None:
        try:
            end = _instant(form.get("end", ""), "end")
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        with UnitOfWork(svc.engine) as uow:
            incidents.resolve(uow.session, incident_id, end, svc.now(), user.username)
            uow.commit()

    try:
        await in_thread(work)
    except MakegoodError as exc:
        return await _failed(request, svc, user, incident_id, exc, form)
    flash(request, "ok", "The incident is resolved. Next: find who it hurt.")
    return RedirectResponse(f"/console/incidents/{incident_id}", status_code=303)


@router.post("/console/incidents/{incident_id}/impact")
async def find_impact(request: Request, svc: Svc, user: OperatorUser, incident_id: int) -> Response:
    await checked_form(request)

    def work() -> tuple[int, int]:
        with UnitOfWork(svc.engine) as uow:
            report = run_for(svc, uow.session, incident_id, svc.now(), user.username)
            uow.commit()
        return report.confirmed, report.possible

    try:
        confirmed, possible = await in_thread(work)
    except MakegoodError as exc:
        return await _failed(request, svc, user, incident_id, exc)
    flash(
        request,
        "ok",
        f"Impact found: {confirmed:,} customers confirmed and {possible:,} possibly affected.",
    )
    return RedirectResponse(f"/console/incidents/{incident_id}", status_code=303)


@router.post("/console/incidents/{incident_id}/plan")
async def plan_campaign(
    request: Request, svc: Svc, user: OperatorUser, incident_id: int
) -> Response:
    form = await checked_form(request)

    def work() -> int:
        text = form.get("policy", "")
        if not text.strip():
            raise InvalidInputError("policy: paste the policy (TOML) to plan with")
        try:
            holdout = Decimal(form.get("holdout", "0").strip() or "0")
        except InvalidOperation:
            raise InvalidInputError(
                f"holdout: {form.get('holdout')!r} is not a number of percent"
            ) from None
        policy = parse_policy(text, "policy")
        with UnitOfWork(svc.engine) as uow:
            campaign = plan(uow.session, incident_id, policy, holdout, svc.now(), user.username)
            # A template that fails for any locale in the plan fails the plan: no
            # draft is kept that could not be sent.
            check_templates(
                uow.session,
                campaign,
                renderer(svc),
                svc.settings.company,
                svc.settings.base_url,
                svc.now(),
            )
            uow.commit()
            return campaign.id

    try:
        campaign_id = await in_thread(work)
    except MakegoodError as exc:
        return await _failed(request, svc, user, incident_id, exc, form)
    flash(
        request, "ok", "The campaign is planned. Review the preview and the emails, then approve."
    )
    return RedirectResponse(f"/console/campaigns/{campaign_id}", status_code=303)


__all__ = ["router"]
