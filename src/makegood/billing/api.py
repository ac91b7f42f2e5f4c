"""``/api/billing/exports``: hand credits to the billing system, each exactly once."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from sqlalchemy import select

from makegood.billing.models import ExportBatch
from makegood.billing.ports import COLUMNS
from makegood.billing.schemas import BatchDetail, BatchOut, BillingRow, ExportOut
from makegood.billing.service import batch_entries, export_pending, get_batch, rows
from makegood.kits.http.deps import Operator, Svc, Uow, Viewer, actor
from makegood.kits.http.errors import COMMON, NOT_FOUND
from makegood.kits.http.fields import BatchId
from makegood.kits.http.pages import Page, Window, fetch, page, window

router = APIRouter(prefix="/api/billing/exports", tags=["billing"], responses=COMMON)

CSV = "text/csv"


@router.post(
    "",
    status_code=201,
    response_model=ExportOut,
    responses={200: {"model": ExportOut, "description": "Nothing was left to export"}},
)
def export(uow: Uow, svc: Svc, caller: Operator, response: Response) -> ExportOut:
    """Export every ledger entry not exported yet as a new batch (201), each entry
    exactly once; with nothing left, 200 and no batch. Amounts are decimal text in
    major units; reversals are negative."""
    batch, entries = export_pending(uow.session, svc.now(), actor(caller), "json", "api")
    uow.commit()
    if batch is None:
        response.status_code = 200
    return ExportOut(
        batch_id=None if batch is None else batch.id,
        exported=len(entries),
        rows=[BillingRow.model_validate(r) for r in rows(entries)],
    )


@router.get("", response_model=Page[BatchOut])
def list_batches(uow: Uow, _: Viewer, w: Annotated[Window, Depends(window)]) -> Page[BatchOut]:
    """Export batches, newest first."""
    found, total = fetch(uow.session, select(ExportBatch).order_by(ExportBatch.id.desc()), w)
    return page([BatchOut.model_validate(b) for b in found], total, w)


@router.get(
    "/{batch_id}",
    response_model=BatchDetail,
    responses={
        **NOT_FOUND,
        200: {
            "description": "The batch and its rows; as CSV with `Accept: text/csv` or "
            "`?format=csv`",
            "content": {CSV: {"schema": {"type": "string"}}},
        },
    },
)
def show_batch(
    batch_id: BatchId,
    uow: Uow,
    _: Viewer,
    format_: Annotated[
        Literal["json", "csv"] | None, Query(alias="format", description="json or csv.")
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> BatchDetail | Response:
    """One batch's rows, again (the ledger is untouched; nothing is marked)."""
    batch = get_batch(uow.session, batch_id)
    lines = rows(batch_entries(uow.session, batch_id))
    wants_csv = format_ == "csv" or (format_ is None and CSV in (accept or "").lower())
    if wants_csv:
        out = io.StringIO()
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        writer.writerows(lines)
        return Response(
            out.getvalue(),
            media_type=f"{CSV}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="billing-{batch_id}.csv"'},
        )
    return BatchDetail(
        id=batch.id,
        created_at=batch.created_at,
        actor=batch.actor,
        format=batch.format,
        entries=batch.entries,
        rows=[BillingRow.model_validate(r) for r in lines],
    )
