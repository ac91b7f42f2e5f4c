from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from makegood.db.base import Base, UTCDateTime

MESSAGE_STATES = ("queued", "sending", "sent", "retrying", "failed", "suppressed")


class Message(Base):
    """The outbox: one message per (campaign, customer, channel), queued with all the
    sender needs. A claim link's token travels sealed with the secret key."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id", "channel"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # The unique key (campaign, customer, channel) also serves lookups by campaign.
    campaign_id: Mapped[int] = mapped_column(Integer)
    offer_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    customer_id: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16), default="email")
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
