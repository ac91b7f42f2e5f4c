from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from makegood.db.base import Base, UTCDateTime

# An impact run refers to its incident by foreign key, so the incidents table must be in the
# metadata whichever command imported this module (commands are imported lazily).
from makegood.incidents import models as _incidents  # noqa: F401

CONFIDENCES = ("confirmed", "possible")


class Impact(Base):
    """One customer hurt by one incident, how sure we are, and what says so.

    No foreign keys here on purpose: impacts are written in bulk (COPY) from a
    query that already joins known customers, and a per-row FK trigger would
    halve the write rate. The composite key is the only index. On PostgreSQL the
    table is partitioned by incident (``impacts_<id>``, made by the first run).
    """

    __tablename__ = "impacts"
    __table_args__ = ({"postgresql_partition_by": "LIST (incident_id)"},)

    incident_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    confidence: Mapped[str] = mapped_column(String(9))
    magnitude: Mapped[int] = mapped_column(BigInteger)
    rule: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[str] = mapped_column(Text)


class ImpactRun(Base):
    """A record of each `impact run`: when, with which rules, what it found."""

    __tablename__ = "impact_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rules: Mapped[list[str]] = mapped_column(JSON)
    confirmed: Mapped[int] = mapped_column(Integer)
    possible: Mapped[int] = mapped_column(Integer)
    unknown_customers: Mapped[int] = mapped_column(Integer)
    query_seconds: Mapped[float] = mapped_column(Float)
    # The incident's latest amendment this run saw (None: none yet). A run after a new
    # amendment may replace impacts that campaigns were executed from, and keeps the
    # difference in impact_changes.
    amendment_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


CHANGES = ("added", "removed", "magnitude", "confidence")


class ImpactChange(Base):
    """One customer whose impact a run after an amendment changed: newly affected
    (added), no longer affected (removed), or affected differently."""

    __tablename__ = "impact_changes"

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    incident_id: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(16))
    before_confidence: Mapped[str | None] = mapped_column(String(9), nullable=True)
    before_magnitude: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    after_confidence: Mapped[str | None] = mapped_column(String(9), nullable=True)
    after_magnitude: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
