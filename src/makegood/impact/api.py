"""``/api/incidents/{id}/impact-runs`` and ``/api/incidents/{id}/impacts``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from makegood.impact.models import Impact
from makegood.impact.schemas import ImpactOut, ImpactRunOut
from makegood.impact.service import run_for
from makegood.incidents.service import get as get_incident
from makegood.kits.http.deps import Operator, Svc, Uow, Viewer, actor
from makegood.kits.http.errors import COMMON, CONFLICT, NOT_FOUND
from makegood.kits.http.fields import IncidentId
from makegood.kits.http.pages import Page, Window, fetch, page, window

router = APIRouter(prefix="/api/incidents", tags=["impact"], responses=COMMON)


@router.post(
    "/{incident_id}/impact-runs",
    status_code=201,
    response_model=ImpactRunOut,
    responses={**NOT_FOUND, **CONFLICT},
)
def run(incident_id: IncidentId, uow: Uow, svc: Svc, caller: Operator) -> ImpactRunOut:
    """Find who the incident hurt with the built-in rules, replacing any earlier run.

    Refused (409) while the incident has no end, before its end, or once a campaign
    for it was executed, unless the incident was amended since the last run: then
    the run replaces the impacts and says what changed (``changes``).
    """
    report = run_for(svc, uow.session, incident_id, svc.now(), actor(caller))
    uow.commit()
    return ImpactRunOut(
        incident=report.incident_id,
        confirmed=report.confirmed,
        possible=report.possible,
        unknown_customers=report.unknown_customers,
        rules=report.rules,
        changes=report.changes,
    )


@router.get("/{incident_id}/impacts", response_model=Page[ImpactOut], responses=NOT_FOUND)
def impacts(
    incident_id: IncidentId,
    uow: Uow,
    _: Viewer,
    w: Annotated[Window, Depends(window)],
    confidence: Annotated[Literal["confirmed", "possible"] | None, Query()] = None,
) -> Page[ImpactOut]:
    """The customers the incident hurt: confirmed first, the most hurt first."""
    get_incident(uow.session, incident_id)
    query = select(Impact).where(Impact.incident_id == incident_id)
    if confidence is not None:
        query = query.where(Impact.confidence == confidence)
    query = query.order_by(Impact.confidence, Impact.magnitude.desc(), Impact.customer_id)
    rows, total = fetch(uow.session, query, w)
    return page([ImpactOut.model_validate(r) for r in rows], total, w)
