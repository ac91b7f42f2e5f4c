"""What one apology says: the facts about a customer, an incident and an offer,
turned into the variables every template receives (see docs/messaging.md).

Everything a person reads is made local here: times in the customer's zone,
dates and money in their locale, the support phone of their country.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_currency, format_percent

from makegood.config import CompanySettings
from makegood.core.money import currency_exponent
from makegood.incidents.rules import summary_for
from makegood.messaging import wording
from makegood.messaging.rendering import Letter, Renderer


@dataclass(frozen=True)
class Shipment:
    order_id: str
    due_at: datetime
    shipped_at: datetime | None


@dataclass(frozen=True)
class LetterFacts:
    """Everything one message needs, read from the database (or made up for a preview)."""

    kind: str
    first_name: str
    email: str
    locale: str
    timezone: str
    country: str
    incident_title: str
    incident_summary: str
    incident_start: datetime
    incident_end: datetime | None
    amount_minor: int
    currency: str
    percent: Decimal | None
    statement_date: date | None
    expires_at: datetime | None
    claim_url: str | None
    sent_at: datetime
    shipments: tuple[Shipment, ...] = field(default=())
    # The summary in other languages; the letter's own language is picked from it.
    incident_summaries: dict[str, str] = field(default_factory=dict)


def support_phone(company: CompanySettings, country: str) -> str:
    phones = company.support_phones
    return phones.get(country.upper()) or phones.get("default") or ""


@lru_cache(maxsize=4096)
def money(amount_minor: int, currency: str, tag: str) -> str:
    """'$0.45', '0,45 €', '￥70', 'BHD 0.195' — the customer's way of writing it."""
    value = Decimal(amount_minor).scaleb(-currency_exponent(currency))
    return format_currency(value, currency, locale=wording.babel_locale(tag))


@lru_cache(maxsize=256)
def percent(value: Decimal, tag: str) -> str:
    # The locale's own pattern ("5 %" in German), keeping any decimals the policy has.
    return format_percent(value / 100, locale=wording.babel_locale(tag), decimal_quantization=False)


def context(facts: LetterFacts, company: CompanySettings) -> dict[str, Any]:
    """The template variables for one message."""
    tag, zone, sent = facts.locale, facts.timezone, facts.sent_at
    claim = None
    if facts.kind == "claim_offer":
        if facts.claim_url is None or facts.expires_at is None:
            raise ValueError("a claim letter needs its link and its deadline")
        deadline = facts.expires_at.astimezone(ZoneInfo(zone))
        claim = {
            "url": facts.claim_url,
            "deadline": wording.long_date(deadline.date(), tag),
            "deadline_day": wording.full_date(deadline.date(), tag),
            "deadline_time": wording.local_time(facts.expires_at, zone, tag),
        }
    return {
        "company": {"name": company.name},
        "customer": {
            "first_name": facts.first_name.strip(),
            "email": facts.email,
            "country": facts.country,
        },
        "incident": {
            "title": facts.incident_title,
            "summary": summary_for(facts.incident_summary, facts.incident_summaries, tag),
            "when": wording.when(facts.incident_start, facts.incident_end, sent, zone, tag),
            "start_time": wording.local_time(facts.incident_start, zone, tag),
            "end_time": (
                wording.local_time(facts.incident_end, zone, tag) if facts.incident_end else None
            ),
        },
        "shipments": [
            {
                "order_id": s.order_id,
                "due": wording.on_day(s.due_at, sent, zone, tag),
                "shipped": (
                    wording.when(s.shipped_at, s.shipped_at, sent, zone, tag)
                    if s.shipped_at is not None
                    else None
                ),
            }
            for s in facts.shipments
        ],
        "credit": {
            "amount": money(facts.amount_minor, facts.currency, tag),
            "percent": percent(facts.percent, tag) if facts.percent is not None else None,
            "statement": (
                wording.long_date(facts.statement_date, tag) if facts.statement_date else None
            ),
        },
        "claim": claim,
        "support_phone": support_phone(company, facts.country),
    }


def compose(renderer: Renderer, facts: LetterFacts, company: CompanySettings) -> Letter:
    """Render one letter. Words follow the template set's language: a customer whose
    language has no templates gets English words too, with no mixed sentences."""
    chosen = renderer.locale_for(facts.locale)
    same_language = (
        chosen.split("-")[0].lower() == facts.locale.replace("_", "-").split("-")[0].lower()
    )
    if not same_language:
        facts = replace(facts, locale=chosen)
    return renderer.render(facts.kind, facts.locale, context(facts, company))
