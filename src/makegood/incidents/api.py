"""``/api/incidents``: declare, list, show and resolve incidents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.core.errors import InvalidInputError
from makegood.incidents.models import Incident
from makegood.incidents.ports import IMPACT_FIGURES
from makegood.incidents.schemas import (
    AmendIn,
    AmendmentOut,
    ImpactCounts,
    IncidentIn,
    IncidentOut,
    ResolveIn,
    SummariesIn,
)
from makegood.incidents.service import (
    Declaration,
    declare,
    get,
    resolve,
    write_summaries,
)
from makegood.kits.http.deps import Operator, Svc, Uow, Viewer, actor
from makegood.kits.http.errors import COMMON, CONFLICT, NOT_FOUND, ApiError
from makegood.kits.http.fields import MALFORMED, IncidentId
from makegood.kits.http.pages import Page, Window, fetch, page, window

router = APIRouter(prefix="/api/incidents", tags=["incidents"], responses=COMMON)


def incident_out(incident: Incident, counts: dict[str, int]) -> IncidentOut:
    return IncidentOut(
        id=incident.id,
        title=incident.title,
        summary=incident.summary,
        summaries=dict(incident.summaries or {}),
        notes=incident.notes or "",
        services=list(incident.services),
        regions=list(incident.regions),
        devices=list(incident.devices),
        severity=incident.severity,
        cause=incident.cause,
        source_ref=incident.source_ref,
        start=incident.start_at,
        end=incident.end_at,
        declared_at=incident.declared_at,
        resolved_at=incident.resolved_at,
        affected=ImpactCounts(
            confirmed=counts.get("confirmed", 0), possible=counts.get("possible", 0)
        ),
    )


@router.post("", status_code=201, response_model=IncidentOut, responses=MALFORMED)
def declare_incident(body: IncidentIn, uow: Uow, svc: Svc, caller: Operator) -> IncidentOut:
    """Declare an incident over [start, end), as `makegood incidents declare` does."""
    declaration = Declaration(
        services=body.services,
        start=body.start,
        end=body.end,
        title=body.title,
        summary=body.summary,
        summaries=body.summaries,
        notes=body.notes,
        cause=body.cause,
        severity=body.severity,
        regions=tuple(body.regions),
        devices=tuple(body.devices),
        source_ref=body.source_ref,
    )
    incident = declare(uow.session, declaration, svc.now(), actor(caller))
    uow.commit()
    return incident_out(incident, {})


@router.get("", response_model=Page[IncidentOut])
def list_incidents(
    uow: Uow, svc: Svc, _: Viewer, w: Annotated[Window, Depends(window)]
) -> Page[IncidentOut]:
    """Incidents, newest first, with how many customers each hurt."""
    query = select(Incident).order_by(Incident.start_at.desc(), Incident.id)
    incidents, total = fetch(uow.session, query, w)
    counts = svc.port(IMPACT_FIGURES).counts(uow.session, [i.id for i in incidents])
    return page([incident_out(i, counts[i.id]) for i in incidents], total, w)


def _counts(svc: Svc, session: Session, incident_id: int) -> dict[str, int]:
    return svc.port(IMPACT_FIGURES).counts(session, [incident_id])[incident_id]


@router.get("/{incident_id}", response_model=IncidentOut, responses=NOT_FOUND)
def show_incident(incident_id: IncidentId, uow: Uow, svc: Svc, _: Viewer) -> IncidentOut:
    """One incident with its impact counts."""
    incident = get(uow.session, incident_id)
    return incident_out(incident, _counts(svc, uow.session, incident_id))


@router.post(
    "/{incident_id}/resolve",
    response_model=IncidentOut,
    responses={**NOT_FOUND, **CONFLICT, **MALFORMED},
)
def resolve_incident(
    incident_id: IncidentId,
    uow: Uow,
    svc: Svc,
    caller: Operator,
    body: Annotated[ResolveIn | None, Body()] = None,
) -> IncidentOut:
    """Mark an incident as over at ``end`` (default: now)."""
    now = svc.now()
    end = body.end if body is not None and body.end is not None else now
    try:
        incident = resolve(uow.session, incident_id, end, now, actor(caller))
    except InvalidInputError as exc:
        raise ApiError(422, exc.kind, exc.message, "end") from None
    uow.commit()
    return incident_out(incident, _counts(svc, uow.session, incident_id))


@router.post(
    "/{incident_id}/amendments",
    status_code=201,
    response_model=AmendmentOut,
    responses={**NOT_FOUND, **MALFORMED},
)
def amend_incident(
    incident_id: IncidentId, body: AmendIn, uow: Uow, svc: Svc, caller: Operator
) -> AmendmentOut:
    """Correct the incident after the fact, as `makegood incidents amend` does: its
    window, services or cause, audited with the before and after. A new impact run
    then finds the difference, and a new plan makes a follow-up campaign."""
    from makegood.incidents.amend import Changes, amend

    changes = Changes(
        body.start,
        body.end,
        None if body.services is None else tuple(body.services),
        body.cause,
    )
    try:
        amendment = amend(uow.session, incident_id, changes, svc.now(), actor(caller))
    except InvalidInputError as exc:
        raise ApiError(422, exc.kind, exc.message, "body") from None
    uow.commit()
    return AmendmentOut(
        id=amendment.id,
        incident_id=incident_id,
        at=amendment.at,
        actor=amendment.actor,
        before=dict(amendment.before),
        after=dict(amendment.after),
    )


@router.put(
    "/{incident_id}/summary",
    response_model=IncidentOut,
    responses={**NOT_FOUND, **MALFORMED},
)
def write_summary(
    incident_id: IncidentId, body: SummariesIn, uow: Uow, svc: Svc, caller: Operator
) -> IncidentOut:
    """Write the summary customers read, in one language or many, as `makegood incidents
    summarize` does; letters not yet sent use it."""
    try:
        incident = write_summaries(
            uow.session, incident_id, body.summary, body.summaries, svc.now(), actor(caller)
        )
    except InvalidInputError as exc:
        raise ApiError(422, exc.kind, exc.message, "summaries") from None
    uow.commit()
    return incident_out(incident, _counts(svc, uow.session, incident_id))
