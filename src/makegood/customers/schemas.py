"""Customers as the API shows them, and what an import answers."""

from __future__ import annotations

from datetime import date
from typing import Any, Self

from pydantic import Field

from makegood.core.money import format_major
from makegood.customers.models import Customer
from makegood.kits.http.fields import Amount, Currency, Instant, Out


class ImportOut(Out):
    imported: int = Field(description="New customers.")
    updated: int = Field(description="Customers already known, now updated.")


class CustomerOut(Out):
    customer_id: str
    email: str
    first_name: str
    locale: str
    timezone: str
    country: str
    status: str = Field(description="active, paused or cancelled")
    plan: str
    monthly_price: Amount
    currency: Currency
    next_bill_date: date
    created_at: Instant
    updated_at: Instant

    @classmethod
    def of(cls, customer: Customer, **more: Any) -> Self:
        return cls(
            customer_id=customer.customer_id,
            email=customer.email,
            first_name=customer.first_name,
            locale=customer.locale,
            timezone=customer.timezone,
            country=customer.country,
            status=customer.status,
            plan=customer.plan,
            monthly_price=format_major(customer.monthly_price_minor, customer.currency),
            currency=customer.currency,
            next_bill_date=customer.next_bill_date,
            created_at=customer.created_at,
            updated_at=customer.updated_at,
            **more,
        )
