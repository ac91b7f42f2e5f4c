"""What one apology says: the facts about a customer, an incident and an offer,
turned into the variables every template receives (see docs/messaging.md).

Everything a person reads is made local here: times in the customer's zone,
dates and money in their locale, the support phone of their country.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_currency, format_percent

from makegood.config import CompanySettings
from makegood.core.locales import closest, language
from makegood.core.money import Money
from makegood.messaging import wording
from makegood.messaging.rendering import Letter, Renderer
from makegood.messaging.written_summary import written_summary


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
    # The customer's one-click unsubscribe link (List-Unsubscribe), when there is one.
    unsubscribe_url: str | None = None
    # The summary in other languages; the letter's own language is picked from it.
    incident_summaries: dict[str, str] = field(default_factory=dict)
    # The incident's services, for the sentence written when no summary is in the
    # letter's language.
    incident_services: tuple[str, ...] = ()
    # The customer's mobile number (E.164), for the sms channel; "" when none.
    phone: str = ""
    # The company's own id for the customer (the webhook channel names them by it).
    customer_id: str = ""
    # What a correction notice tells (its kind only): "close" (the claim link was
    # closed) or "reverse" (the credit was taken back).
    correction: str | None = None


def support_phone(company: CompanySettings, country: str) -> str:
    phones = company.support_phones
    return phones.get(country.upper()) or phones.get("default") or ""


@lru_cache(maxsize=4096)
def money(amount_minor: int, currency: str, tag: str) -> str:
    """'$0.45', '0,45 €', '￥70', 'BHD 0.195' — the customer's way of writing it."""
    value = Money(amount_minor, currency).major
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
        "company": {"name": company.name, "account_url": company.account_url},
        "customer": {
            "first_name": facts.first_name.strip(),
            "email": facts.email,
            "country": facts.country,
        },
        "incident": _incident(facts, company.default_locale),
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
        "correction": _correction(facts),
        "support_phone": support_phone(company, facts.country),
    }


CORRECTIONS = ("close", "reverse")


def _correction(facts: LetterFacts) -> dict[str, Any] | None:
    """What a correction notice says was done; None for every other kind."""
    if facts.kind != "correction_notice":
        return None
    action = facts.correction
    if action not in CORRECTIONS:
        raise ValueError(f"a correction notice needs its action (close or reverse), not {action!r}")
    return {"action": action, "closed": action == "close", "reversed": action == "reverse"}


def written_summary_for(
    tag: str, summary: str, summaries: dict[str, str], default_locale: str
) -> str | None:
    """The summary a person wrote for readers of ``tag``'s language, if any."""
    key = closest(tag, summaries)
    if key is not None:
        return summaries[key]
    if summary.strip() and language(tag) == language(default_locale):
        return summary
    return None


def what_failed(
    tag: str,
    zone: str,
    *,
    summary: str,
    summaries: dict[str, str],
    services: Sequence[str],
    start: datetime,
    end: datetime | None,
    default_locale: str,
) -> str:
    """What went wrong, in the language of ``tag`` and nothing else: a summary a person
    wrote in that language, else the plain summary when it is written in the company's
    language, else a sentence made for that language from the services and times."""
    written = written_summary_for(tag, summary, summaries, default_locale)
    if written is not None:
        return written
    local = ZoneInfo(zone)
    # Clock times alone are only clear when the window starts and ends on one local day.
    if end is not None and start.astimezone(local).date() == end.astimezone(local).date():
        times = (wording.local_time(start, zone, tag), wording.local_time(end, zone, tag))
        return _written(tuple(services), times[0], times[1], tag)
    return _written(tuple(services), None, None, tag)


@lru_cache(maxsize=1024)
def _written(services: tuple[str, ...], start: str | None, end: str | None, tag: str) -> str:
    # A campaign's letters ask the same few questions: Babel's list formatting once each.
    return written_summary(services, start, end, tag)


def letter_locale(renderer: Renderer, tag: str, default_locale: str) -> str:
    """The template set a customer's letters use: their own language's nearest, else
    the company's default."""
    return renderer.locale_for(tag, default_locale)


def _incident(facts: LetterFacts, default_locale: str) -> dict[str, Any]:
    tag, zone = facts.locale, facts.timezone
    return {
        "title": facts.incident_title,
        "summary": what_failed(
            tag,
            zone,
            summary=facts.incident_summary,
            summaries=facts.incident_summaries,
            services=facts.incident_services,
            start=facts.incident_start,
            end=facts.incident_end,
            default_locale=default_locale,
        ),
        "when": wording.when(facts.incident_start, facts.incident_end, facts.sent_at, zone, tag),
        "start_time": wording.local_time(facts.incident_start, zone, tag),
        "end_time": (
            wording.local_time(facts.incident_end, zone, tag) if facts.incident_end else None
        ),
    }


def compose(
    renderer: Renderer, facts: LetterFacts, company: CompanySettings, form: str = "email"
) -> Letter:
    """Render one letter, as an email or (``form="sms"``) as one short text. Words
    follow the template set's language: a customer whose language has no templates gets
    the company's default language throughout, with no mixed sentences."""
    chosen = letter_locale(renderer, facts.locale, company.default_locale)
    if language(chosen) != language(facts.locale):
        facts = replace(facts, locale=chosen)
    if form == "sms":
        return renderer.render_sms(facts.kind, chosen, context(facts, company))
    return renderer.render(facts.kind, chosen, context(facts, company))
