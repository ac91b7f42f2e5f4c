from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from makegood.db.base import Base, UTCDateTime

STATUSES = ("active", "paused", "cancelled")


class Customer(Base):
    """A customer of the company, keyed by the company's own id."""

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused', 'cancelled')", name="status"),
        CheckConstraint("monthly_price_minor >= 0", name="price_not_negative"),
    )

    customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str] = mapped_column(String(35))
    timezone: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(String(100), default="")
    monthly_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    next_bill_date: Mapped[date] = mapped_column(Date)
    # The customer's id in the billing system (Stripe's cus_...), where credits are pushed.
    billing_id: Mapped[str | None] = mapped_column(String(200), nullable=True, default=None)
    # A mobile number in E.164 (+14155550123), for the sms channel.
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None)
    # The channels the customer is reached on: "email", "sms" or "email,sms"; NULL
    # (no customers file has said) means email.
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CustomerGeneration(Base):
    """One row: which customers import is current. Each import sets a new random
    generation in its own transaction; a snapshot of the customers names the
    generation it holds."""

    __tablename__ = "customer_generation"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
