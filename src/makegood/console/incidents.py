"""Console: the incidents list, declaring one, and resolving it."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from makegood.campaigns.models import Campaign
from makegood.console.auth import OperatorUser, ViewerUser, checked_form
from makegood.console.render import page
from makegood.core.clock import parse_instant
from makegood.core.errors import MakegoodError
from makegood.db.uow import UnitOfWork
from makegood.impact.models import Impact
from makegood.incidents.models import Incident
from makegood.incidents.service import Declaration, declare, list_incidents
from makegood.kits.http.deps import Svc

router = APIRouter(include_in_schema=False)


@router.get("/console")
def home() -> Response:
    return RedirectResponse("/console/incidents", status_code=303)


@router.get("/console/incidents")
def incidents(request: Request, svc: Svc, user: ViewerUser) -> Response:
    return _list(request, svc, user)


def _list(
    request: Request,
    svc: Svc,
    user: ViewerUser,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    with UnitOfWork(svc.engine) as uow:
        found = list_incidents(uow.session)
        affected: dict[int, dict[str, int]] = defaultdict(lambda: {"confirmed": 0, "possible": 0})
        for incident_id, confidence, n in uow.session.execute(
            select(Impact.incident_id, Impact.confidence, func.count()).group_by(
                Impact.incident_id, Impact.confidence
            )
        ):
            affected[incident_id][str(confidence)] = int(n)
        campaigns: dict[int, list[Campaign]] = defaultdict(list)
        for campaign in uow.session.scalars(select(Campaign).order_by(Campaign.id)):
            campaigns[campaign.incident_id].append(campaign)
    rows = [
        {
            "incident": i,
            "status": "open" if i.end_at is None else "resolved",
            "affected": affected[i.id],
            "campaigns": campaigns[i.id],
        }
        for i in found
    ]
    return page(
        request,
        "incidents.html",
        status,
        rows=rows,
        can_declare=user.can("operator"),
        error=error,
        form=form or {},
    )


@router.post("/console/incidents")
async def declare_incident(request: Request, svc: Svc, user: OperatorUser) -> Response:
    form = await checked_form(request)
    try:
        declaration = Declaration(
            services=[s.strip() for s in form.get("services", "").split(",") if s.strip()],
            start=_instant(form.get("start", ""), "start"),
            end=_instant(form["end"], "end") if form.get("end", "").strip() else None,
            title=form.get("title", ""),
            summary=form.get("summary", ""),
            cause=form.get("cause", "").strip() or None,
            severity=form.get("severity", "major"),
        )
        with UnitOfWork(svc.engine) as uow:
            incident = declare(uow.session, declaration, svc.now(), user.username)
            uow.commit()
            new_id = incident.id
    except (MakegoodError, ValueError) as exc:
        message = exc.message if isinstance(exc, MakegoodError) else str(exc)
        return _list(request, svc, user, 422, message, form)
    return RedirectResponse(f"/console/incidents/{new_id}", status_code=303)


def _instant(text: str, field: str) -> datetime:
    # datetime-local inputs send "2008-03-24T08:00" with no zone; the form says UTC.
    value = text.strip()
    if value and len(value) <= 16 and "T" in value:
        value += ":00+00:00"
    return parse_instant(value, field)


__all__ = ["Incident", "router"]
