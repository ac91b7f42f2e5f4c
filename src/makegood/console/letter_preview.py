"""Console: the exact email a campaign sends, one sample per locale and mode, shown in a
sandboxed frame whose Content-Security-Policy allows the letter's own inline styles."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.campaigns import preview as letters
from makegood.campaigns.models import Campaign
from makegood.console.render import (
    HEADERS,
    money,
    renderer,
)
from makegood.core.errors import NotFoundError
from makegood.customers.models import Customer
from makegood.kits.ports import Port
from makegood.kits.root import Root
from makegood.messaging.rendering import RenderError

MODES = {"automatic": "Automatic credit", "claim": "Claim link"}


# ---------------------------------------------------------------- shared helpers


class _Styles(HTMLParser):
    """Collects inline style attributes and <style> blocks of a letter."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attributes: set[str] = set()
        self.blocks: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "style" and value is not None:
                self.attributes.add(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.blocks.append(data)


def _sha256(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
    return f"'sha256-{digest}'"


def letter_csp(html: str) -> str:
    """The console's policy, letting through exactly the letter's own styles.

    A srcdoc frame inherits the page's Content-Security-Policy, and email HTML is
    styled inline; hashes admit those styles and nothing else.
    """
    found = _Styles()
    found.feed(html)
    found.close()
    hashes = sorted({_sha256(s) for s in (*found.attributes, *found.blocks)})
    base = HEADERS["Content-Security-Policy"]
    if not hashes:
        return base
    return base.replace("style-src 'self'", "style-src 'self' 'unsafe-hashes' " + " ".join(hashes))


def samples(session: Session, campaign: Campaign) -> list[dict[str, str]]:
    offers = letters.samples(session, campaign)
    locales = dict(
        session.execute(
            select(Customer.customer_id, Customer.locale).where(
                Customer.customer_id.in_([o.customer_id for o in offers])
            )
        ).all()
    )
    return [
        {
            "customer_id": o.customer_id,
            "locale": str(locales.get(o.customer_id, "")),
            "mode": MODES.get(o.mode, o.mode),
        }
        for o in sorted(offers, key=lambda o: (str(locales.get(o.customer_id, "")), o.mode))
    ]


SAMPLES_CACHE: Port[dict[int, tuple[object, list[dict[str, str]]]]] = Port(
    "console letter samples cache", lambda _: {}
)


def cached_samples(svc: Root, session: Session, campaign: Campaign) -> list[dict[str, str]]:
    """The samples only change when the campaign is planned again or changes state;
    finding them groups every offer, so a page reuses them until then."""
    cache = svc.port(SAMPLES_CACHE)
    key = (campaign.planned_at, campaign.status)
    hit = cache.get(campaign.id)
    if hit is not None and hit[0] == key:
        return hit[1]
    found = samples(session, campaign)
    if len(cache) > 256:
        cache.clear()
    cache[campaign.id] = (key, found)
    return found


def letter_sample(
    svc: Root, session: Session, campaign: Campaign, customer: str | None
) -> dict[str, Any]:
    try:
        offer, letter, mail = letters.preview(
            session,
            campaign,
            renderer(svc),
            svc.settings.company,
            svc.settings.base_url,
            svc.now(),
            customer,
        )
    except NotFoundError:
        who = f"Customer {customer}" if customer else "Nobody"
        return {
            "missing": f"{who} gets no email from this campaign (not in it, held out or "
            "excluded by the policy)."
        }
    except (RenderError, ValueError) as exc:
        return {"error": f"The letter does not render: {exc}"}
    headers = mail.readable_headers()
    return {
        "customer_id": offer.customer_id,
        "mode": MODES.get(offer.mode, offer.mode),
        "kind": offer.mode,
        "amount": money(offer.amount_minor, offer.currency),
        "status": offer.status,
        "locale": letter.locale,
        "subject": letter.subject,
        "text": letter.text,
        "html": letter.html,
        "headers": {
            k: headers[k] for k in ("From", "To", "Reply-To", "Subject", "Date") if k in headers
        },
    }


# ---------------------------------------------------------------- the page
