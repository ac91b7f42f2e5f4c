"""A letter is in one language, always: a summary written only in English never
reaches a reader of another language, whose letter says what failed in a sentence
written for their language; the plan counts who gets that sentence."""

from __future__ import annotations

import itertools
import re
from collections import Counter

from sqlalchemy import func, select, update

from makegood.campaigns.models import Campaign
from makegood.campaigns.preview import languages
from makegood.config import CompanySettings
from makegood.credits.models import Offer
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from makegood.incidents.service import write_summaries
from makegood.messaging.rendering import Renderer
from tests.support import truth as gt
from tests.support.delivery import executed, send, settings

ENGLISH = "Videos would not start for many members."
GERMAN = "Bei vielen Mitgliedern starteten keine Videos."
# Every template set, regional variants served through CLDR's parents, and a
# language with no letters at all (the company's default, en-US, serves it).
READERS = (
    "en-US", "en-GB", "en-CA", "en-AU", "en-IN", "de-DE", "de-AT", "fr-FR", "fr-CA",
    "es-ES", "es-MX", "es-AR", "pt-BR", "pt-PT", "ja-JP", "ar-BH", "it-IT", "nl-NL",
    "ko-KR", "zh-CN", "sw-KE",
)  # fmt: skip


def spread_locales(engine) -> dict[str, str]:
    """Give the world's customers every reader locale in turn; their locale by email."""
    with UnitOfWork(engine) as uow:
        ids = uow.session.scalars(select(Customer.customer_id).order_by(Customer.customer_id))
        chosen = dict(zip(ids, itertools.cycle(READERS), strict=False))
        for cid, tag in chosen.items():
            uow.session.execute(
                update(Customer).where(Customer.customer_id == cid).values(locale=tag)
            )
        uow.commit()
    return {f"{cid}@example.com": tag for cid, tag in chosen.items()}


def test_an_english_only_summary_appears_in_no_letter_of_another_language(
    engine, database_url, world, sink
):
    handler, port = sink
    locale_of = spread_locales(engine)
    with UnitOfWork(engine) as uow:
        for incident in (world.shipping, world.streaming):
            write_summaries(uow.session, incident, ENGLISH, {"de": GERMAN}, gt.NOW, "cx")
        uow.commit()
    executed(engine, world.shipping)
    executed(engine, world.streaming)
    counts = send(engine, settings(database_url, port))
    received = handler.received()
    assert counts.sent == len(received) > 40

    languages_seen: Counter[str] = Counter()
    for item in received:
        mail = handler.open(item)
        reader = locale_of[item["rcpt_tos"][0]]
        letter_language = str(mail["Content-Language"])
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        languages_seen[letter_language] += 1
        # The letter is in the reader's language when makegood has letters in it.
        if reader != "sw-KE":
            assert letter_language.split("-")[0] == reader.split("-")[0], (reader, letter_language)
        assert re.search(rf'<html lang="{re.escape(letter_language)}"', html), letter_language
        if letter_language.startswith("en"):
            assert ENGLISH in text and GERMAN not in text
        elif letter_language.startswith("de"):
            assert GERMAN in text and ENGLISH not in text
        else:
            assert ENGLISH not in text and ENGLISH not in html, (reader, text)
            assert GERMAN not in text
    # Every language was written to.
    assert {tag.split("-")[0] for tag in languages_seen} == {
        tag.split("-")[0] for tag in READERS if tag != "sw-KE"
    }


def test_the_plan_says_which_letter_languages_read_makegoods_own_sentence(engine, world):
    spread_locales(engine)
    with UnitOfWork(engine) as uow:
        write_summaries(uow.session, world.streaming, ENGLISH, {"de": GERMAN}, gt.NOW, "cx")
        uow.commit()
    campaign_id = executed(engine, world.streaming)
    with UnitOfWork(engine) as uow:
        campaign = uow.session.get(Campaign, campaign_id)
        assert campaign is not None
        found = languages(uow.session, campaign, Renderer(), CompanySettings())
        lettered = uow.session.scalar(
            select(func.count()).where(
                Offer.campaign_id == campaign_id, Offer.status.in_(("offered", "granted"))
            )
        )
    by_source = {(row["locale"], row["summary"]) for row in found["letters"]}
    assert ("en-US", "written") in by_source  # en-US readers and sw-KE (company default)
    assert ("de-DE", "written") in by_source
    for tag in ("ja-JP", "ko-KR", "zh-CN", "ar", "fr-FR", "it-IT", "nl-NL"):
        assert (tag, "generated") in by_source, tag
        assert found["generated_summaries"][tag] > 0
    assert "en-US" not in found["generated_summaries"]
    assert sum(row["customers"] for row in found["letters"]) == lettered
