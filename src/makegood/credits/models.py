from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from makegood.db.base import Base, UTCDateTime

KINDS = ("grant", "claim", "reversal")


class LedgerEntry(Base):
    """An append-only credit (grant or claim) or reversal, in integer minor units.

    Rows are never updated or deleted; a balance is a sum. One grant or claim and at
    most one reversal per offer, enforced by the unique key.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("offer_id", "kind"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    offer_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    customer_id: Mapped[str] = mapped_column(String(200), index=True)
    incident_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    statement_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    description: Mapped[str] = mapped_column(Text, default="")
