from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from makegood.db.base import Base, UTCDateTime

# A campaign refers to its incident by foreign key, so the incidents table must be in the
# metadata whichever command imported this module (commands are imported lazily).
from makegood.incidents import models as _incidents  # noqa: F401

CAMPAIGN_STATES = ("draft", "approved", "executing", "done", "cancelled")
# Once a campaign has started executing, credits and messages exist that were
# decided from the incident's impacts; those impacts must not change under them.
EXECUTED_STATES = ("executing", "done")


class Campaign(Base):
    """The remedy plan for one incident under one policy version."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    policy_name: Mapped[str] = mapped_column(String(200), default="")
    policy_version: Mapped[int] = mapped_column(Integer, default=1)
    policy_digest: Mapped[str] = mapped_column(String(64), default="")
    policy_source: Mapped[str] = mapped_column(Text, default="")
    holdout_percent: Mapped[str] = mapped_column(String(12), default="0")
    approvals_needed: Mapped[int] = mapped_column(Integer, default=1)
    preview: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    planned_by: Mapped[str] = mapped_column(String(200), default="")
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Approval(Base):
    __tablename__ = "campaign_approvals"
    __table_args__ = (UniqueConstraint("campaign_id", "approver"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    approver: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
