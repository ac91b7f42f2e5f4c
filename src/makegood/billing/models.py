from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from makegood.db.base import Base, UTCDateTime


class ExportBatch(Base):
    """One billing export: which file, when, by whom, how many entries."""

    __tablename__ = "export_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    # The billing sink that took the batch: csv, jsonl or a plug-in's name.
    format: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    entries: Mapped[int] = mapped_column(Integer)


class ExportItem(Base):
    """Which batch carried a ledger entry to billing. The entry is the primary key,
    so no entry can be carried twice; the ledger itself stays untouched."""

    __tablename__ = "export_items"

    entry_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    batch_id: Mapped[int] = mapped_column(Integer, index=True)


DELIVERY_STATES = ("pending", "delivered", "failed")


class BillingDelivery(Base):
    """Where one ledger entry stands with one billing sink that takes entries one by
    one (Stripe, a webhook): pending → delivered (with the billing system's id) |
    failed (with the reason). One row per (entry, sink): pushed at most once."""

    __tablename__ = "billing_deliveries"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state"),
        Index("ix_billing_deliveries_due", "sink", "state", "entry_id"),
    )

    entry_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    sink: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # What the billing system was given, in the ledger's minor units, and the
    # difference its rules forced (Stripe takes BHD only in steps of 10 fils).
    pushed_amount_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rounding_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
