"""``GET /api/reports/{incident_id}``: what an incident cost and what it bought."""

from __future__ import annotations

from fastapi import APIRouter

from makegood.kits.http.deps import Svc, Uow, Viewer
from makegood.kits.http.errors import COMMON, NOT_FOUND
from makegood.kits.http.fields import IncidentId
from makegood.reports.schemas import ReportOut
from makegood.reports.service import incident_report

router = APIRouter(prefix="/api/reports", tags=["reports"], responses=COMMON)


@router.get("/{incident_id}", response_model=ReportOut, responses=NOT_FOUND)
def report(incident_id: IncidentId, uow: Uow, svc: Svc, _: Viewer) -> ReportOut:
    """Affected by confidence, excluded by reason, held out, offers by mode and
    status, messages by delivery status, claims and the claim rate, credits per
    currency."""
    return ReportOut.of(incident_report(uow.session, incident_id, svc.now()))
