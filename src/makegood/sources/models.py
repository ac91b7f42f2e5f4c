from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from makegood.db.base import Base, UTCDateTime

TABLES = ("usage_events", "shipments")


class DataSource(Base):
    """Where one kind of usage data lives: a CSV or Parquet file or glob."""

    __tablename__ = "data_sources"

    table_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
