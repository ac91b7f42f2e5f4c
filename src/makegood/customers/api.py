"""``/api/customers``: import, list and look up customers."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, UploadFile
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from makegood.api.deps import Operator, Svc, Uow, Viewer, actor
from makegood.billing.models import ExportItem
from makegood.campaigns.models import Offer
from makegood.campaigns.schemas import OfferOut
from makegood.core.errors import InvalidInputError, NotFoundError
from makegood.credits.models import LedgerEntry
from makegood.credits.schemas import LedgerEntryOut
from makegood.credits.service import balance
from makegood.customers.models import Customer
from makegood.customers.schemas import CustomerDetail, CustomerOut, ImportOut
from makegood.customers.service import import_customers
from makegood.impact.models import Impact
from makegood.impact.schemas import ImpactOut
from makegood.kits.http.errors import COMMON, NOT_FOUND, ApiError, ErrorResponse
from makegood.kits.http.fields import CustomerId, Text, totals
from makegood.kits.http.pages import Page, Window, fetch, page, window
from makegood.messaging.models import DeliveryAttempt, Message
from makegood.messaging.schemas import MessageDetail

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


@router.get("/{customer_id}", response_model=CustomerDetail, responses=NOT_FOUND)
def show_customer(customer_id: CustomerId, uow: Uow, _: Viewer) -> CustomerDetail:
    """One customer with every impact, offer, message (and its delivery attempts),
    ledger entry, and their balance per currency."""
    session = uow.session
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError(f"customer {customer_id!r} does not exist")
    impacts = session.scalars(
        select(Impact).where(Impact.customer_id == customer_id).order_by(Impact.incident_id)
    )
    offers = session.scalars(
        select(Offer).where(Offer.customer_id == customer_id).order_by(Offer.id)
    )
    return CustomerDetail.of(
        customer,
        impacts=[ImpactOut.model_validate(i) for i in impacts],
        offers=[OfferOut.of(o) for o in offers],
        messages=_messages(session, customer_id),
        ledger=_ledger(session, customer_id),
        balance=totals(balance(session, customer_id)),
    )


def _messages(session: Session, customer_id: str) -> list[MessageDetail]:
    messages = session.scalars(
        select(Message).where(Message.customer_id == customer_id).order_by(Message.id)
    ).all()
    attempts: dict[int, list[DeliveryAttempt]] = {m.id: [] for m in messages}
    if messages:
        for attempt in session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id.in_(attempts))
            .order_by(DeliveryAttempt.id)
        ):
            attempts[attempt.message_id].append(attempt)
    return [MessageDetail.of(m, attempts[m.id]) for m in messages]


def _ledger(session: Session, customer_id: str) -> list[LedgerEntryOut]:
    rows = session.execute(
        select(LedgerEntry, ExportItem.batch_id)
        .outerjoin(ExportItem, ExportItem.entry_id == LedgerEntry.id)
        .where(LedgerEntry.customer_id == customer_id)
        .order_by(LedgerEntry.id)
    )
    return [LedgerEntryOut.of(entry, batch) for entry, batch in rows]
