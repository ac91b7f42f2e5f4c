from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
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
    # 0 for an incident's first campaign; 1, 2, ... for follow-ups after amendments.
    round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The incident's newest amendment when the campaign was planned (None: none).
    amendment_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


CORRECTION_ACTIONS = ("keep", "close", "reverse")


class Correction(Base):
    """What a follow-up campaign does to an earlier offer whose customer is no longer
    owed it (no longer affected, or now excluded): keep it, close its open claim link,
    or reverse the credit. Executed with the campaign; ``status`` planned -> done."""

    __tablename__ = "campaign_corrections"
    __table_args__ = (
        CheckConstraint("action IN ('keep', 'close', 'reverse')", name="correction_action"),
    )

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    notify: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Approval(Base):
    __tablename__ = "campaign_approvals"
    __table_args__ = (UniqueConstraint("campaign_id", "approver"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    approver: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
