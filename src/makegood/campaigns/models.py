from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
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
OFFER_STATES = ("planned", "held_out", "granted", "offered", "claimed", "expired", "voided")


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


class Offer(Base):
    """What one customer is offered for one incident: one per (incident, customer)."""

    __tablename__ = "offers"
    __table_args__ = (
        UniqueConstraint("incident_id", "customer_id"),
        # Execution pages through a campaign's offers in id order. No index touches a
        # column that execution changes, so PostgreSQL can update offers in place
        # (HOT), helped by the free space the fill factor leaves on each page.
        Index("ix_offers_campaign_id_id", "campaign_id", "id"),
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # No foreign keys on the bulk tables (offers, ledger, outbox, export items): they
    # are written set-based from rows that already join their parents, and a per-row
    # FK trigger costs more than the write itself.
    campaign_id: Mapped[int] = mapped_column(Integer)
    incident_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(200))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    claim_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    capped: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    statement_date: Mapped[date | None] = mapped_column(Date, nullable=True)


class ClaimToken(Base):
    """The hash of an offer's claim token: the link's only key. Kept apart from the
    offer so issuing tokens is an insert, not an update of an indexed column."""

    __tablename__ = "claim_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    offer_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
