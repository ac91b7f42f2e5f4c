"""``GET /api/audit``: who did what to which object, when, before and after."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from makegood.audit.schemas import AuditEntryOut
from makegood.audit.service import entries_query
from makegood.kits.http.deps import Uow, Viewer
from makegood.kits.http.errors import COMMON
from makegood.kits.http.fields import Instant
from makegood.kits.http.pages import Page, Window, fetch, page, window

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=COMMON)

Name = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.get("", response_model=Page[AuditEntryOut])
def list_entries(
    uow: Uow,
    _: Viewer,
    w: Annotated[Window, Depends(window)],
    since: Annotated[
        Instant | None, Query(description="Only entries at or after this instant.")
    ] = None,
    actor: Name = None,
    action: Name = None,
    object_type: Name = None,
    object_id: Name = None,
    order: Annotated[
        Literal["newest", "oldest"], Query(description="newest first (default) or oldest first.")
    ] = "newest",
) -> Page[AuditEntryOut]:
    """The audit log, filtered; every change made through the API or the CLI is here."""
    query = entries_query(
        since=since,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        newest_first=order == "newest",
    )
    rows, total = fetch(uow.session, query, w)
    return page([AuditEntryOut.model_validate(r) for r in rows], total, w)
