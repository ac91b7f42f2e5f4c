"""Campaigns and offers as the API takes and shows them."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from makegood.core.money import format_major
from makegood.credits.models import Offer
from makegood.kits.http.fields import Amount, Body, Currency, Instant, Out, Text, Totals

PERCENT = re.compile(r"^[0-9]{1,2}(\.[0-9]{1,4})?$")


class PlanIn(Body):
    """What `makegood campaigns plan` takes: the incident, the policy text, the holdout."""

    incident_id: int = Field(ge=1, le=2**31 - 1)
    policy: Text = Field(
        min_length=1, max_length=200_000, description="The policy file's TOML text."
    )
    holdout_percent: str = Field(
        default="0",
        description="Percent of offers held out as a control group, decimal text below 100.",
        examples=["0", "10", "2.5"],
        json_schema_extra={"pattern": PERCENT.pattern},
    )

    @field_validator("holdout_percent")
    @classmethod
    def _percent(cls, value: str) -> str:
        if not PERCENT.match(value):
            raise PydanticCustomError(
                "percent",
                "{value} is not a percent from 0 to below 100, like 10 or 2.5",
                {"value": repr(value)},
            )
        return str(Decimal(value))


class PolicyRef(Out):
    name: str
    version: int
    digest: str


class LargestCredit(Out):
    customer_id: str
    amount: Amount
    currency: Currency


class LetterLanguage(Out):
    locale: str = Field(description="The template set the letters use.")
    summary: str = Field(
        description="written: a person wrote the summary in this language; generated: "
        "the letters say what failed in a sentence makegood writes for the language."
    )
    customers: int


class SmsLength(Out):
    locale: str
    kind: str = Field(description="automatic_credit, claim_offer or correction_notice")
    encoding: str = Field(description="GSM-7 or UCS-2")
    characters: int = Field(description="Septets (GSM-7) or UTF-16 units (UCS-2).")
    segments: int


class CampaignItem(Out):
    id: int
    incident: int
    status: str = Field(description="draft, approved, executing, done or cancelled")
    policy: PolicyRef
    holdout_percent: str
    approvals_needed: int
    offers: int = Field(description="Offers planned (not held out), when planned.")
    totals: Totals
    created_at: Instant
    planned_at: Instant | None
    planned_by: str
    executed_at: Instant | None
    finished_at: Instant | None
    cancelled_at: Instant | None


class CampaignOut(CampaignItem):
    """The plan's preview, its approvals and its offers by status."""

    automatic: int
    claim: int
    excluded: int
    excluded_by_reason: dict[str, int]
    held_out: int
    budget: Totals
    over_budget: Totals = Field(description="Currencies whose total is over the budget.")
    largest: list[LargestCredit] = Field(description="The ten largest credits per currency.")
    letters: list[LetterLanguage] = Field(
        default_factory=list, description="Customers by the language of their letter."
    )
    generated_summaries: dict[str, int] = Field(
        default_factory=dict,
        description="Letter locales with no summary written in their language, and how "
        "many customers read makegood's own sentence in each.",
    )
    channels: dict[str, int] = Field(
        default_factory=dict,
        description="Offers by the channel their customer is reached on (email, sms); a "
        "customer on both counts in each.",
    )
    opted_out: int = Field(
        default=0,
        description="Customers who opted out of email (unsubscribed or complained): "
        "credited as planned, not mailed.",
    )
    sms_lengths: list[SmsLength] = Field(
        default_factory=list,
        description="The text message per locale and kind, measured at plan time.",
    )
    approvers: list[str]
    offers_by_status: dict[str, int]


class ExecuteOut(Out):
    granted: int = Field(description="Automatic credits put on the ledger.")
    offered: int = Field(description="Claim links issued.")
    messages: int = Field(description="Apologies queued.")


class PreviewOut(Out):
    """The exact email one customer gets; a claim link shows a placeholder token."""

    campaign: int
    customer_id: str
    locale: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]


class OfferOut(Out):
    id: int
    campaign_id: int
    incident_id: int
    status: str = Field(
        description="planned, held_out, granted, offered, claimed, expired or voided"
    )
    mode: str = Field(description="automatic or claim")
    rule: str
    amount: Amount
    currency: Currency
    claim_days: int | None
    capped: bool
    expires_at: Instant | None
    granted_at: Instant | None
    claimed_at: Instant | None
    voided_at: Instant | None
    void_reason: str | None
    statement_date: date | None

    @classmethod
    def of(cls, offer: Offer) -> OfferOut:
        return cls(
            id=offer.id,
            campaign_id=offer.campaign_id,
            incident_id=offer.incident_id,
            status=offer.status,
            mode=offer.mode,
            rule=offer.rule,
            amount=format_major(offer.amount_minor, offer.currency),
            currency=offer.currency,
            claim_days=offer.claim_days,
            capped=offer.capped,
            expires_at=offer.expires_at,
            granted_at=offer.granted_at,
            claimed_at=offer.claimed_at,
            voided_at=offer.voided_at,
            void_reason=offer.void_reason,
            statement_date=offer.statement_date,
        )
