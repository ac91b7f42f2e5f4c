"""The correction notice: the one short letter a follow-up campaign sends when it closes
a customer's claim link or reverses a credit already given, in every locale."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from makegood.config import CompanySettings
from makegood.messaging.letters import LetterFacts, compose, context, money
from makegood.messaging.rendering import KINDS, Renderer

RENDERER = Renderer()
TAGS = sorted(RENDERER.locales)
ACTIONS = ("close", "reverse")
COMPANY = CompanySettings(
    name="Example Video",
    support_phones={"BH": "+973 1700 0000", "default": "1-800-555-0100"},
)
FACTS = LetterFacts(
    kind="correction_notice",
    first_name="Sam",
    email="sam@example.com",
    locale="en-US",
    timezone="America/Los_Angeles",
    country="US",
    incident_title="Streaming down",
    incident_summary="Videos would not start for many members.",
    incident_start=datetime(2008, 3, 25, 4, 30, tzinfo=UTC),
    incident_end=datetime(2008, 3, 25, 7, 0, tzinfo=UTC),
    amount_minor=1234,
    currency="EUR",
    percent=Decimal(5),
    statement_date=date(2008, 4, 3),
    expires_at=None,
    claim_url=None,
    sent_at=datetime(2008, 3, 25, 16, tzinfo=UTC),
    correction="close",
)
# Anything a template meant to fill in, or a value that was never there.
UNRENDERED = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|\bNone\b|Undefined")


def notice(tag: str, action: str, form: str = "email", **changes: object):
    facts = dataclasses.replace(FACTS, locale=tag, correction=action, **changes)
    return compose(RENDERER, facts, COMPANY, form)


def test_the_correction_notice_is_a_letter_kind():
    assert "correction_notice" in KINDS


@pytest.mark.parametrize("tag", TAGS)
def test_each_action_renders_in_every_locale_with_the_amount(tag):
    amount = money(FACTS.amount_minor, FACTS.currency, tag)
    plain = amount.replace("\u00a0", " ").replace("\u202f", " ")
    letters = {action: notice(tag, action) for action in ACTIONS}
    for action, letter in letters.items():
        assert letter.locale == tag
        assert letter.subject and "\n" not in letter.subject
        assert f'lang="{tag}"' in letter.html and "<script" not in letter.html.lower()
        for part in (letter.subject, letter.text, letter.html):
            assert UNRENDERED.search(part) is None, (action, part)
        assert amount in letter.text and amount in letter.html
        assert "1-800-555-0100" in letter.text and "1-800-555-0100" in letter.html
        assert "Sam" in letter.text and "Sam" in letter.html
        # Nothing to click: a closed link is not shown again.
        assert "href=" not in letter.html
        sms = notice(tag, action, "sms").text
        assert UNRENDERED.search(sms) is None and plain in sms and "\n" not in sms
    # A closed link and a reversed credit are told apart, in every form.
    assert letters["close"].text != letters["reverse"].text
    assert letters["close"].html != letters["reverse"].html
    assert notice(tag, "close", "sms").text != notice(tag, "reverse", "sms").text


@pytest.mark.parametrize("tag", TAGS)
def test_without_a_first_name_the_notice_still_greets(tag):
    letter = notice(tag, "reverse", first_name="")
    assert letter.text.strip().splitlines()[0].strip()
    assert UNRENDERED.search(letter.text) is None


@pytest.mark.parametrize("tag", TAGS)
def test_customer_data_is_escaped_in_the_html(tag):
    for action in ACTIONS:
        letter = notice(tag, action, first_name="<b>x</b>")
        assert "&lt;b&gt;x&lt;/b&gt;" in letter.html
        assert "<b>x</b>" not in letter.html
        # Plain text is not escaped: there is nothing to escape.
        assert "<b>x</b>" in letter.text


def test_the_arabic_notice_reads_right_to_left_with_the_phone_kept_in_order():
    facts = {"country": "BH", "currency": "BHD", "timezone": "Asia/Bahrain"}
    letter = notice("ar", "close", **facts)
    assert '<html lang="ar" dir="rtl">' in letter.html and "text-align:right" in letter.html
    assert '<strong dir="ltr">+973 1700 0000</strong>' in letter.html
    assert "\u200e+973 1700 0000\u200e" in letter.text
    assert notice("ar", "reverse", "sms", **facts).text.startswith("\u200f")


def test_the_variable_says_which_correction_and_other_kinds_have_none():
    for action in ACTIONS:
        told = context(dataclasses.replace(FACTS, correction=action), COMPANY)["correction"]
        assert told == {
            "action": action,
            "closed": action == "close",
            "reversed": action == "reverse",
        }
    for kind in ("automatic_credit", "claim_offer"):
        facts = dataclasses.replace(
            FACTS,
            kind=kind,
            claim_url="https://video.example.com/claim/abc",
            expires_at=datetime(2008, 4, 1, 16, tzinfo=UTC),
        )
        assert context(facts, COMPANY)["correction"] is None


@pytest.mark.parametrize("action", [None, "keep", "void"])
def test_a_notice_without_a_close_or_reverse_action_is_refused(action):
    with pytest.raises(ValueError, match="close or reverse"):
        notice("en-US", action)  # type: ignore[arg-type]
