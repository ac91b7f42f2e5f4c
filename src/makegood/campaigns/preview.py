"""See an apology before anyone gets it: the exact email for one customer, and a
check at planning time that every locale in the campaign renders."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from makegood.campaigns.models import Campaign
from makegood.campaigns.terms import percents_of
from makegood.config import CompanySettings
from makegood.core.errors import NotFoundError
from makegood.core.locales import language
from makegood.credits.models import Offer
from makegood.customers.models import Customer
from makegood.incidents.models import Incident
from makegood.messaging import facts as facts_
from makegood.messaging import mime
from makegood.messaging.letters import LetterFacts, compose, letter_locale, written_summary_for
from makegood.messaging.rendering import Letter, Renderer, RenderError

# A preview shows where the customer's own link goes; the real token exists only
# in the sealed outbox payload and is never printed.
PLACEHOLDER = "PREVIEW-ONLY-NOT-A-WORKING-LINK"
LETTERED = ("planned", "granted", "offered", "claimed", "expired")


def kind_of(offer: Offer) -> str:
    return "automatic_credit" if offer.mode == "automatic" else "claim_offer"


def _facts(
    session: Session, campaign: Campaign, offer: Offer, base_url: str, sent_at: datetime
) -> LetterFacts:
    customer = session.get(Customer, offer.customer_id)
    incident = session.get(Incident, offer.incident_id)
    if customer is None or incident is None:  # pragma: no cover - offers keep their rows
        raise NotFoundError(f"offer {offer.id} has lost its customer or incident")
    kind = kind_of(offer)
    url = facts_.claim_url(base_url, PLACEHOLDER) if kind == "claim_offer" else None
    shipments = facts_.shipments_for(session, offer.incident_id, offer.customer_id)
    percents = percents_of(campaign.policy_source)
    return facts_.letter_facts(kind, offer, customer, incident, percents, shipments, url, sent_at)


def samples(session: Session, campaign: Campaign) -> list[Offer]:
    """One offer for every (locale, mode) the campaign writes to."""
    first = (
        select(func.min(Offer.id))
        .join(Customer, Customer.customer_id == Offer.customer_id)
        .where(Offer.campaign_id == campaign.id, Offer.status.in_(LETTERED))
        .group_by(Customer.locale, Offer.mode)
    )
    return list(session.scalars(select(Offer).where(Offer.id.in_(first)).order_by(Offer.id)))


def check_templates(
    session: Session,
    campaign: Campaign,
    renderer: Renderer,
    company: CompanySettings,
    base_url: str,
    sent_at: datetime,
) -> int:
    """Render a sample letter for every locale and mode present; the first failure
    is a RenderError naming the locale, the template and the customer. The plan's
    preview then says in which languages the letters go out."""
    offers = samples(session, campaign)
    for offer in offers:
        facts = _facts(session, campaign, offer, base_url, sent_at)
        try:
            compose(renderer, facts, company)
        except (RenderError, ValueError) as exc:
            raise RenderError(
                f"the {kind_of(offer)} letter for locale {facts.locale} "
                f"(customer {offer.customer_id}) does not render: {exc}"
            ) from None
    campaign.preview = {
        **(campaign.preview or {}),
        **languages(session, campaign, renderer, company),
    }
    return len(offers)


def languages(
    session: Session, campaign: Campaign, renderer: Renderer, company: CompanySettings
) -> dict[str, Any]:
    """Customers by the locale of their letter, and by whether it carries a summary a
    person wrote in that language or the sentence makegood writes for it."""
    incident = session.get(Incident, campaign.incident_id)
    if incident is None:  # pragma: no cover - a campaign keeps its incident
        raise NotFoundError(f"campaign {campaign.id} has lost its incident")
    counts = session.execute(
        select(Customer.locale, func.count())
        .join(Offer, Offer.customer_id == Customer.customer_id)
        .where(Offer.campaign_id == campaign.id, Offer.status.in_(LETTERED))
        .group_by(Customer.locale)
    )
    letters: Counter[tuple[str, str]] = Counter()
    for tag, n in counts:
        chosen = letter_locale(renderer, tag, company.default_locale)
        reader = tag if language(chosen) == language(tag) else chosen
        written = written_summary_for(
            reader, incident.summary, dict(incident.summaries or {}), company.default_locale
        )
        letters[(chosen, "written" if written is not None else "generated")] += int(n)
    rows = [
        {"locale": locale, "summary": source, "customers": n}
        for (locale, source), n in sorted(letters.items())
    ]
    return {
        "letters": rows,
        "generated_summaries": {
            r["locale"]: r["customers"] for r in rows if r["summary"] == "generated"
        },
    }


def preview(
    session: Session,
    campaign: Campaign,
    renderer: Renderer,
    company: CompanySettings,
    base_url: str,
    sent_at: datetime,
    customer_id: str | None = None,
) -> tuple[Offer, Letter, mime.Email]:
    """The email one customer gets from this campaign (the first offer's by default)."""
    query = select(Offer).where(Offer.campaign_id == campaign.id, Offer.status.in_(LETTERED))
    if customer_id is not None:
        query = query.where(Offer.customer_id == customer_id)
    offer = session.scalars(query.order_by(Offer.id).limit(1)).first()
    if offer is None:
        who = f"customer {customer_id!r}" if customer_id else "anyone"
        raise NotFoundError(f"campaign {campaign.id} has no letter for {who}")
    facts = _facts(session, campaign, offer, base_url, sent_at)
    letter = compose(renderer, facts, company)
    sender = mime.parse_mailbox(company.sender, "company.sender")
    reply_to = (
        mime.parse_mailbox(company.reply_to, "company.reply_to") if company.reply_to else sender
    )
    mail = mime.build(
        letter,
        sender=sender,
        reply_to=reply_to,
        to_name=facts.first_name,
        to_address=facts.email,
        msg_id=mime.message_id(f"{campaign.id}.preview", sender),
        date=sent_at,
    )
    return offer, letter, mail
