"""See an apology before anyone gets it: the exact email for one customer, and a
check at planning time that every locale in the campaign renders."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from makegood.campaigns.models import Campaign, Correction
from makegood.campaigns.terms import percents_of
from makegood.config import CompanySettings
from makegood.core.errors import InvalidInputError, NotFoundError
from makegood.core.locales import language
from makegood.core.tokens import new_token
from makegood.credits.models import Offer
from makegood.customers.models import Customer
from makegood.incidents.models import Incident
from makegood.messaging import facts as facts_
from makegood.messaging import mime
from makegood.messaging.letters import LetterFacts, compose, letter_locale, written_summary_for
from makegood.messaging.models import Suppression
from makegood.messaging.rendering import Letter, Renderer, RenderError
from makegood.messaging.sms_text import sms_length
from makegood.policy.schema import parse_policy

# A preview shows where the customer's own link goes; the real token exists only
# in the sealed outbox payload and is never printed.
PLACEHOLDER = "PREVIEW-ONLY-NOT-A-WORKING-LINK"
# A stand-in as long as a real claim token, for measuring text messages.
TOKEN_SHAPE = "x" * len(new_token())
# Suppression reasons that mean the customer asked for no more email.
OPTED_OUT = ("unsubscribed", "complained")
LETTERED = ("planned", "granted", "offered", "claimed", "expired")
# Corrections a follow-up tells its customers of, when the policy says to notify.
NOTICED = ("close", "reverse")


def kind_of(offer: Offer) -> str:
    return "automatic_credit" if offer.mode == "automatic" else "claim_offer"


def _facts(
    session: Session,
    campaign: Campaign,
    offer: Offer,
    base_url: str,
    sent_at: datetime,
    correction: str | None = None,
) -> LetterFacts:
    """The letter for ``offer``, or with ``correction`` (close or reverse) the notice
    that tells its customer of that correction."""
    customer = session.get(Customer, offer.customer_id)
    incident = session.get(Incident, offer.incident_id)
    if customer is None or incident is None:  # pragma: no cover - offers keep their rows
        raise NotFoundError(f"offer {offer.id} has lost its customer or incident")
    kind = kind_of(offer) if correction is None else "correction_notice"
    url = facts_.claim_url(base_url, PLACEHOLDER) if kind == "claim_offer" else None
    shipments = (
        ()
        if kind == "correction_notice"
        else facts_.shipments_for(session, offer.incident_id, offer.customer_id)
    )
    percents = percents_of(campaign.policy_source)
    return facts_.letter_facts(
        kind, offer, customer, incident, percents, shipments, url, sent_at, correction=correction
    )


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
    texts = sms_lengths(session, campaign, renderer, company, base_url, sent_at)
    campaign.preview = {
        **(campaign.preview or {}),
        **languages(session, campaign, renderer, company),
        **reach(session, campaign.id),
        "sms_lengths": texts,
    }
    return len(offers)


def reach(session: Session, campaign_id: int) -> dict[str, Any]:
    """Offers by the channels their customer is reached on, and how many customers
    opted out of email (unsubscribed or complained): they still get automatic
    credits, but no email."""
    wanted = "," + func.coalesce(Customer.channel, "email") + ","
    lettered = (
        select(Offer.customer_id)
        .where(Offer.campaign_id == campaign_id, Offer.status.in_(LETTERED))
        .subquery()
    )
    email, sms = session.execute(
        select(
            func.coalesce(func.sum(case((wanted.like("%,email,%"), 1), else_=0)), 0),
            func.coalesce(func.sum(case((wanted.like("%,sms,%"), 1), else_=0)), 0),
        ).join(lettered, lettered.c.customer_id == Customer.customer_id)
    ).one()
    opted_out = session.scalar(
        select(func.count())
        .select_from(lettered)
        .join(Customer, Customer.customer_id == lettered.c.customer_id)
        .join(
            Suppression,
            and_(Suppression.channel == "email", Suppression.address == func.lower(Customer.email)),
        )
        .where(or_(*(Suppression.reason.like(f"{r}%") for r in OPTED_OUT)))
    )
    return {"channels": {"email": int(email), "sms": int(sms)}, "opted_out": int(opted_out or 0)}


def sms_lengths(
    session: Session,
    campaign: Campaign,
    renderer: Renderer,
    company: CompanySettings,
    base_url: str,
    sent_at: datetime,
) -> list[dict[str, Any]]:
    """The text message for every (locale, mode) the campaign texts, each rendered for
    its largest offer with a link as long as a real one, and the correction notice for
    every locale a follow-up texts one in; one longer than the policy's
    ``[sms] max_segments`` refuses the plan, naming the locale and the count."""
    limit = parse_policy(campaign.policy_source).sms.max_segments
    texted = ("," + func.coalesce(Customer.channel, "") + ",").like("%,sms,%")
    largest = (
        select(func.max(Offer.id))
        .join(Customer, Customer.customer_id == Offer.customer_id)
        .where(Offer.campaign_id == campaign.id, Offer.status.in_(LETTERED), texted)
        .group_by(Customer.locale, Offer.mode)
    )
    rows = []
    for offer in session.scalars(select(Offer).where(Offer.id.in_(largest)).order_by(Offer.id)):
        facts = _facts(session, campaign, offer, base_url, sent_at)
        if facts.claim_url is not None:
            facts = replace(facts, claim_url=facts_.claim_url(base_url, TOKEN_SHAPE, "sms"))
        rows.append(_measured(renderer, facts, company, limit))
    # Both actions are measured; the plan shows the longer notice of each locale.
    notices: dict[str, dict[str, Any]] = {}
    for offer, action in _corrected(session, campaign, texted):
        facts = _facts(session, campaign, offer, base_url, sent_at, correction=action)
        row = _measured(renderer, facts, company, limit)
        kept = notices.setdefault(row["locale"], row)
        if (row["segments"], row["characters"]) > (kept["segments"], kept["characters"]):
            notices[row["locale"]] = row
    return rows + list(notices.values())


def _corrected(session: Session, campaign: Campaign, texted: Any) -> list[tuple[Offer, str]]:
    """The largest corrected offer for every (locale, action) a follow-up tells its
    customers of by text: a correction notice goes out only where the policy said
    ``[corrections] notify`` and the correction closes a link or reverses a credit."""
    largest = (
        select(func.max(Correction.offer_id))
        .join(Customer, Customer.customer_id == Correction.customer_id)
        .where(
            Correction.campaign_id == campaign.id,
            Correction.notify.is_(True),
            Correction.action.in_(NOTICED),
            texted,
        )
        .group_by(Customer.locale, Correction.action)
    )
    found = session.execute(
        select(Offer, Correction.action)
        .join(Correction, Correction.offer_id == Offer.id)
        .where(Correction.campaign_id == campaign.id, Offer.id.in_(largest))
        .order_by(Offer.id)
    )
    return [(offer, str(action)) for offer, action in found]


def _measured(
    renderer: Renderer, facts: LetterFacts, company: CompanySettings, limit: int
) -> dict[str, Any]:
    """One text message's length, or InvalidInputError if the policy allows fewer parts."""
    text = compose(renderer, facts, company, "sms")
    length = sms_length(text.text)
    if length.segments > limit:
        raise InvalidInputError(
            f"the {facts.kind} text message for locale {text.locale} is "
            f"{length.segments} SMS segments ({length.encoding}, {length.units} "
            f"characters) and the policy allows {limit} ([sms] max_segments); shorten "
            f"{text.locale}/{facts.kind}.sms.txt or raise the limit"
        )
    return {
        "locale": text.locale,
        "kind": facts.kind,
        "encoding": length.encoding,
        "characters": length.units,
        "segments": length.segments,
    }


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
