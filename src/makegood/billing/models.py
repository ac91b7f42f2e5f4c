from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
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
