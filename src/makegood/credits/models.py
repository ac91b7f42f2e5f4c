from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from makegood.db.base import Base, UTCDateTime

KINDS = ("grant", "claim", "reversal")
OFFER_STATES = ("planned", "held_out", "granted", "offered", "claimed", "expired", "voided")


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


class Offer(Base):
    """What one customer is offered for one incident: one per (incident, customer)."""

    __tablename__ = "offers"
    __table_args__ = (
        # One offer per customer in each round: 0 is the incident's first campaign, a
        # follow-up after an amendment is round 1, 2, ...
        UniqueConstraint(
            "incident_id", "customer_id", "round", name="uq_offers_incident_customer_round"
        ),
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
    round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ClaimToken(Base):
    """The hash of an offer's claim token: the link's only key. Kept apart from the
    offer so issuing tokens is an insert, not an update of an indexed column."""

    __tablename__ = "claim_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    offer_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
