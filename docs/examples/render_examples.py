"""Renders the example letters in this directory: both seed kinds in several locales,
as .eml files and as screenshots of the HTML part in Chromium.

    uv run python docs/examples/render_examples.py

Needs Debian's chromium at /usr/bin/chromium (or CHROMIUM=/path/to/chrome).
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import sync_playwright

from makegood.config import CompanySettings
from makegood.demo.scenario import Scenario
from makegood.messaging import mime
from makegood.messaging.letters import LetterFacts, Shipment, compose
from makegood.messaging.rendering import Renderer

HERE = Path(__file__).parent
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Customers of the two 2008 seed cases, each in their own country, zone and currency.
PEOPLE = {
    "en-US": ("Sam", "US", "America/Los_Angeles", "USD", 899),
    "de-DE": ("Lena", "DE", "Europe/Berlin", "EUR", 899),
    "ja-JP": ("Haruto", "JP", "Asia/Tokyo", "JPY", 1590),
    "fr-FR": ("Camille", "FR", "Europe/Paris", "EUR", 899),
    "en-CA": ("Olivia", "CA", "America/Toronto", "CAD", 1899),
    "ar-BH": ("مريم", "BH", "Asia/Bahrain", "BHD", 3900),
    "ko-KR": ("지우", "KR", "Asia/Seoul", "KRW", 13500),
    "zh-CN": ("小明", "CN", "Asia/Shanghai", "CNY", 3000),
}
# The incidents' customer-facing summaries, as the operator declared them
# (`incidents declare --summary ... --summaries FILE`): the demo's own. It has none in
# Korean or Chinese, so those letters show the sentence makegood writes itself.
SHIPPING, STREAMING = Scenario().shipping, Scenario().streaming
COMPANY = CompanySettings(
    name="Example Video",
    sender="Example Video <apologies@example.com>",
    support_phones={
        "US": "1-800-555-0100",
        "DE": "0800 555 0100",
        "FR": "0 800 555 010",
        "JP": "0120-555-010",
        "CA": "1-800-555-0199",
        "BH": "8000 5550",
        "KR": "080-555-0100",
        "CN": "400-555-0100",
        "default": "+1 800 555 0100",
    },
)


def letters() -> list[tuple[str, str, LetterFacts]]:
    out = []
    for tag, (name, country, zone, currency, price) in PEOPLE.items():
        shipping = LetterFacts(
            kind="automatic_credit",
            first_name=name,
            email=f"{name.lower()}@example.com"
            if name.isascii()
            else f"member.{country.lower()}@example.com",
            locale=tag,
            timezone=zone,
            country=country,
            incident_title="Shipping system down",
            incident_summary=SHIPPING.summary,
            incident_summaries=SHIPPING.summaries,
            incident_services=(SHIPPING.service,),
            # Monday 24 March 2008, most of the day in the US.
            incident_start=datetime(2008, 3, 24, 12, tzinfo=UTC),
            incident_end=datetime(2008, 3, 25, 3, tzinfo=UTC),
            amount_minor=price * 5 // 100,
            currency=currency,
            percent=Decimal(5),
            statement_date=date(2008, 4, 3),
            expires_at=None,
            claim_url=None,
            sent_at=datetime(2008, 3, 25, 17, tzinfo=UTC),
            shipments=(
                Shipment(
                    "1147-2283",
                    datetime(2008, 3, 24, 22, tzinfo=UTC),
                    datetime(2008, 3, 25, 15, tzinfo=UTC),
                ),
            ),
        )
        streaming = dataclasses.replace(
            shipping,
            kind="claim_offer",
            incident_title="Streaming failures",
            incident_summary=STREAMING.summary,
            incident_summaries=STREAMING.summaries,
            incident_services=(STREAMING.service,),
            # An evening in the Americas: Wednesday 26 March 2008, 02:00-05:00 UTC.
            incident_start=datetime(2008, 3, 26, 2, tzinfo=UTC),
            incident_end=datetime(2008, 3, 26, 5, tzinfo=UTC),
            amount_minor=price * 2 // 100,
            percent=Decimal(2),
            statement_date=None,
            expires_at=datetime(2008, 4, 2, 16, tzinfo=UTC),
            claim_url="https://video.example.com/claim/EXAMPLE-ONLY-NOT-A-WORKING-LINK",
            sent_at=datetime(2008, 3, 26, 16, tzinfo=UTC),
            shipments=(),
        )
        out += [(tag, "automatic_credit", shipping), (tag, "claim_offer", streaming)]
    return out


def main() -> None:
    renderer = Renderer()
    sender, reply_to = mime.addresses(COMPANY)
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 680, "height": 300})
        for number, (tag, kind, facts) in enumerate(letters(), 1):
            letter = compose(renderer, facts, COMPANY)
            mail = mime.build(
                letter,
                sender=sender,
                reply_to=reply_to,
                to_name=facts.first_name,
                to_address=facts.email,
                msg_id=f"<makegood.example.{number}@example.com>",
                date=facts.sent_at,
            )
            stem = f"{kind}.{tag}"
            (HERE / f"{stem}.eml").write_bytes(mail.raw)
            page.set_content(letter.html)
            page.screenshot(path=str(HERE / f"{stem}.png"), full_page=True)
            print(f"{stem}: {letter.subject}")
        browser.close()


if __name__ == "__main__":
    main()
