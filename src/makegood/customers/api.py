"""``/api/customers``: import, list and look up customers."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, UploadFile
from sqlalchemy import func, select

from makegood.core.errors import InvalidInputError
from makegood.customers.models import Customer
from makegood.customers.schemas import CustomerOut, ImportOut
from makegood.customers.service import import_customers
from makegood.customers.snapshot import refresh
from makegood.kits.http.deps import Operator, Svc, Uow, Viewer, actor
from makegood.kits.http.errors import COMMON, ApiError, ErrorResponse
from makegood.kits.http.fields import Text
from makegood.kits.http.pages import Page, Window, fetch, page, window

router = APIRouter(prefix="/api/customers", tags=["customers"], responses=COMMON)

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _local_name(upload: UploadFile, head: bytes) -> str:
    """A safe file name whose suffix tells the reader the format; Parquet is also
    known by its magic bytes, whatever the upload was called."""
    name = UNSAFE.sub("_", Path(upload.filename or "").name).strip("._") or "customers"
    if name.lower().endswith(SUFFIXES):
        return name
    return f"{name}.parquet" if head.startswith(b"PAR1") else f"{name}.csv"


@router.post(
    "/import",
    response_model=ImportOut,
    responses={400: {"model": ErrorResponse, "description": "The upload is not a readable form"}},
)
def import_file(
    file: Annotated[
        UploadFile,
        File(description="A CSV or Parquet file with the customers columns."),
    ],
    uow: Uow,
    svc: Svc,
    caller: Operator,
) -> ImportOut:
    """Import customers, all or nothing; customers already known are updated by id.

    Columns: customer_id,email,first_name,locale,timezone,country,status,plan,
    monthly_price,currency,next_bill_date. Every bad field is reported with its row
    and column, and then nothing is imported.
    """
    head = file.file.read(4)
    file.file.seek(0)
    name = _local_name(file, head)
    with tempfile.TemporaryDirectory(prefix="makegood-import-") as directory:
        path = Path(directory) / name
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
        try:
            result = import_customers(
                uow.session, path, svc.now(), actor=actor(caller), source=name
            )
        except InvalidInputError as exc:
            message = exc.message.replace(f"{directory}/", "")
            raise ApiError(422, exc.kind, message, "file") from None
        uow.commit()
    refresh(svc.engine, svc.settings.cache_dir)
    return ImportOut(imported=result.imported, updated=result.updated)


@router.get("", response_model=Page[CustomerOut])
def list_customers(
    uow: Uow,
    _: Viewer,
    w: Annotated[Window, Depends(window)],
    email: Annotated[
        Text | None, Query(max_length=320, description="Only the customer with this address.")
    ] = None,
    status: Annotated[Literal["active", "paused", "cancelled"] | None, Query()] = None,
) -> Page[CustomerOut]:
    """Customers by id."""
    query = select(Customer)
    if email is not None:
        query = query.where(func.lower(Customer.email) == email.strip().lower())
    if status is not None:
        query = query.where(Customer.status == status)
    rows, total = fetch(uow.session, query.order_by(Customer.customer_id), w)
    return page([CustomerOut.of(c) for c in rows], total, w)
