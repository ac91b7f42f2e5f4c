from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from makegood.db.base import Base, UTCDateTime

# "bounced": accepted by the relay, then returned by the receiving system for good.
MESSAGE_STATES = ("queued", "sending", "sent", "retrying", "failed", "suppressed", "bounced")
# States a sender may still pick up: never tried, due for a retry, or leased by a
# sender whose lease may have run out.
PENDING_STATES = ("queued", "retrying", "sending")
PENDING_SQL = "status IN ('queued', 'retrying', 'sending')"


class Message(Base):
    """The outbox: one message per (campaign, customer, channel), and one more for
    each time support sends a claim email again; queued with all the
    sender needs. A claim link's token travels sealed with the secret key."""

    __tablename__ = "messages"
    __table_args__ = (
        # A claim email sent again (a fresh link) is the same key with the next sequence.
        UniqueConstraint("campaign_id", "customer_id", "channel", "sequence"),
        # Senders take pending messages in id order; sent ones drop out of this index.
        Index(
            "ix_messages_pending",
            "id",
            postgresql_where=text(PENDING_SQL),
            sqlite_where=text(PENDING_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # The unique key (campaign, customer, channel) also serves lookups by campaign.
    campaign_id: Mapped[int] = mapped_column(Integer)
    offer_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    customer_id: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16), default="email")
    sequence: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Delivery: who holds the message and until when; when to try again; what the
    # last try said. The provider's id (for email, the Message-ID) is fixed on the
    # first try, so retries reuse it.
    leased_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    recipient: Mapped[str | None] = mapped_column(String(320), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class DeliveryAttempt(Base):
    """One try at handing a message to its channel's provider, whatever came of it."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # sent | retry | failed | suppressed
    outcome: Mapped[str] = mapped_column(String(16))
    # The provider's code: an SMTP reply code, an HTTP status, an SMS gateway's error.
    provider_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class Suppression(Base):
    """An address its channel's provider refused for good (for email, a 5xx reply);
    nothing is sent to that address on that channel again."""

    __tablename__ = "suppressions"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True, default="email")
    address: Mapped[str] = mapped_column(String(320), primary_key=True)  # lower-cased
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    provider_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), nullable=True
    )


FEEDBACK_KINDS = ("hard_bounce", "soft_bounce", "complaint")


class MailFeedback(Base):
    """What a mail system said after accepting a message: a bounce (hard: the address
    is gone; soft: for now) or a complaint (the reader marked it as spam). One row per
    outcome in a report; the report's key and the outcome's position in it make
    reading the same report twice write nothing new."""

    __tablename__ = "mail_feedback"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('hard_bounce', 'soft_bounce', 'complaint')", name="feedback_kind"
        ),
        UniqueConstraint("report_key", "position", name="uq_mail_feedback_report"),
        Index("ix_mail_feedback_message", "message_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    report_key: Mapped[str] = mapped_column(String(64))  # sha256 of the report
    position: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16))  # mailbox, maildir, mbox, webhook
    kind: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320), default="")
    message_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
