"""``/api/messages``: the outbox, and every delivery attempt of a message."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from makegood.core.errors import NotFoundError
from makegood.kits.http.deps import Uow, Viewer
from makegood.kits.http.errors import COMMON, NOT_FOUND
from makegood.kits.http.fields import SMALL_ID, MessageId, Text
from makegood.kits.http.pages import Page, Window, fetch, page, window
from makegood.messaging.models import DeliveryAttempt, Message
from makegood.messaging.schemas import MessageDetail, MessageOut

router = APIRouter(prefix="/api/messages", tags=["messages"], responses=COMMON)

Status = Literal["queued", "sending", "sent", "retrying", "failed", "suppressed"]


@router.get("", response_model=Page[MessageOut])
def list_messages(
    uow: Uow,
    _: Viewer,
    w: Annotated[Window, Depends(window)],
    status: Annotated[Status | None, Query()] = None,
    campaign_id: Annotated[int | None, Query(ge=1, le=SMALL_ID)] = None,
    customer_id: Annotated[Text | None, Query(min_length=1, max_length=200)] = None,
) -> Page[MessageOut]:
    """Messages in the order they were queued."""
    query = select(Message)
    if status is not None:
        query = query.where(Message.status == status)
    if campaign_id is not None:
        query = query.where(Message.campaign_id == campaign_id)
    if customer_id is not None:
        query = query.where(Message.customer_id == customer_id)
    rows, total = fetch(uow.session, query.order_by(Message.id), w)
    return page([MessageOut.model_validate(m) for m in rows], total, w)


@router.get("/{message_id}", response_model=MessageDetail, responses=NOT_FOUND)
def show_message(message_id: MessageId, uow: Uow, _: Viewer) -> MessageDetail:
    """One message with every delivery attempt."""
    message = uow.session.get(Message, message_id)
    if message is None:
        raise NotFoundError(f"message {message_id} does not exist")
    attempts = uow.session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.message_id == message_id)
        .order_by(DeliveryAttempt.id)
    )
    return MessageDetail.of(message, attempts)
