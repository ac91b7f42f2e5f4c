"""Impacts as the API shows them."""

from __future__ import annotations

from pydantic import Field

from makegood.kits.http.fields import Out


class ImpactRunOut(Out):
    incident: int
    confirmed: int = Field(description="Customers surely hurt.")
    possible: int = Field(description="Customers likely hurt.")
    unknown_customers: int = Field(description="Ids in the usage data that are not customers.")
    rules: list[str] = Field(description="The rules that ran.")
    changes: dict[str, int] | None = Field(
        default=None,
        description="After an amendment of the incident: customers newly affected "
        "(added), no longer affected (removed), or with another magnitude or confidence.",
    )


class ImpactOut(Out):
    incident_id: int
    customer_id: str
    confidence: str = Field(description="confirmed or possible")
    magnitude: int = Field(description="Minutes lost, days late or failed attempts.")
    rule: str
    evidence: str = Field(description="What the data said.")
