"""Letters filled in from cached parts are the letters Jinja renders in full, byte for
byte, and a template that does more with a reader's value than write it out is
rendered in full."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from makegood.config import CompanySettings
from makegood.messaging import mime
from makegood.messaging.letter_parts import LetterParts, NotCacheable, build, freeze
from makegood.messaging.letters import LetterFacts, Shipment, compose
from makegood.messaging.rendering import KINDS, Renderer

COMPANY = CompanySettings(
    name="Example Video",
    sender="Example Video <apologies@example.com>",
    account_url="https://video.example.com/account",
    support_phones={"US": "1-800-555-0100", "DE": "+49 30 1234567", "default": "1-800-555-0199"},
)
FACTS = LetterFacts(
    kind="automatic_credit",
    first_name="Sam",
    email="sam@example.com",
    locale="en-US",
    timezone="America/Los_Angeles",
    country="US",
    incident_title="Shipping down",
    incident_summary="Our shipping system was down, so many orders left late.",
    incident_start=datetime(2008, 3, 24, 14, tzinfo=UTC),
    incident_end=datetime(2008, 3, 25, 2, tzinfo=UTC),
    amount_minor=45,
    currency="USD",
    percent=Decimal(5),
    statement_date=date(2008, 4, 3),
    expires_at=datetime(2008, 4, 1, 16, tzinfo=UTC),
    claim_url="https://video.example.com/claim/abc",
    sent_at=datetime(2008, 3, 25, 16, tzinfo=UTC),
    unsubscribe_url="https://video.example.com/unsubscribe/xyz",
)
LATE = Shipment("A-1", datetime(2008, 3, 24, 20, tzinfo=UTC), None)
SHIPPED = Shipment(
    "B-22", datetime(2008, 3, 20, 20, tzinfo=UTC), datetime(2008, 3, 25, 9, tzinfo=UTC)
)
# Each template set, and tags that borrow one (another region, another script, none).
TAGS = [*sorted(Renderer().locales), "es-AR", "en-IN", "pt-PT", "zh-TW", "sv-SE"]
# Readers who share everything but their own values, then some who do not.
READERS = [
    {"first_name": "Sam", "email": "sam@example.com", "amount_minor": 45},
    {"first_name": "Zoë-Ann", "email": "zoe@example.org", "amount_minor": 1999},
    {"first_name": "", "email": "anon@example.net", "amount_minor": 7},
    {"first_name": "李小龙", "email": "li@example.cn", "amount_minor": 45},
    {"first_name": "O'Brien & Sons", "email": "ob@example.ie", "amount_minor": 3},
    {"first_name": "<b>Bold</b>", "email": "b@example.com", "amount_minor": 3},
]
SHAPES = [
    {"percent": Decimal(5), "shipments": ()},
    {"percent": None, "shipments": (LATE,)},
    {"percent": Decimal("2.5"), "shipments": (LATE, SHIPPED)},
]


def letters(renderer: Renderer, tag: str, kind: str) -> list[Any]:
    """Every reader in every shape, as Letter and as the MIME bytes a sender sends."""
    sender, reply_to = mime.addresses(COMPANY)
    out = []
    for number, (shape, reader) in enumerate(itertools.product(SHAPES, READERS)):
        facts = dataclasses.replace(
            FACTS,
            kind=kind,
            locale=tag,
            claim_url=f"https://video.example.com/claim/t{number}",
            statement_date=date(2008, 4, 1 + number % 20),
            # A correction notice closes a link or reverses a credit: both, by turns.
            correction=("close", "reverse")[number % 2] if kind == "correction_notice" else None,
            **shape,
            **reader,
        )
        letter = compose(renderer, facts, COMPANY)
        raw = mime.build(
            letter,
            sender=sender,
            reply_to=reply_to,
            to_name=facts.first_name,
            to_address=facts.email,
            msg_id=mime.message_id(f"1.{number}", sender),
            date=facts.sent_at,
            unsubscribe_url=facts.unsubscribe_url,
        ).raw
        out.append((letter, raw))
    return out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tag", TAGS)
def test_letters_from_parts_are_the_letters_rendered_in_full(tag, kind):
    cached, full = Renderer(), Renderer(parts=False)
    assert letters(cached, tag, kind) == letters(full, tag, kind)
    # The parts were built, checked and used: not every letter fell back to Jinja.
    built = cached._parts._parts if cached._parts is not None else {}
    assert built and all(parts is not None for parts in built.values())


def test_operators_templates_are_always_rendered_in_full(tmp_path: Path):
    (tmp_path / "en-US").mkdir()
    assert Renderer(tmp_path)._parts is None
    assert Renderer()._parts is not None


def render_with(templates: dict[str, str]):
    env = Environment(
        loader=DictLoader(templates),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html"], default_for_string=False),
    )

    def render(context: dict[str, Any]) -> dict[str, str]:
        return {
            part: env.get_template(name).render(context)
            for part, name in (("subject", "s.txt"), ("text", "t.txt"), ("html", "h.html"))
        }

    return render


def context(name: str) -> dict[str, Any]:
    return {"company": {"name": "Example"}, "customer": {"first_name": name}, "claim": None}


@pytest.mark.parametrize(
    "text",
    [
        "{{ customer.first_name|upper }}",
        "{{ customer.first_name|lower }}",
        "{{ customer.first_name|capitalize }}",
        "{{ customer.first_name|length }}",
        "{{ customer.first_name[:1] }}",
        "{% if customer.first_name == 'Sam' %}Hi boss{% else %}Hi{% endif %}",
        "{% if 'a' in customer.first_name %}a{% endif %}",
        "{{ (customer.first_name ~ ' and friends')|truncate(12) }}",
        "{{ (customer.first_name ~ '')|length }}",
        "{{ customer.first_name.startswith('S') }}",
        "{% set x = customer.first_name ~ '' %}Hi",
        "{{ customer }}",
    ],
)
def test_a_template_that_does_more_with_a_value_than_write_it_is_rendered_in_full(text):
    render = render_with({"s.txt": "Sorry", "t.txt": text, "h.html": "<p>{{ company.name }}</p>"})
    # The parts' own checks refuse it, whatever the first reader's value happens to be.
    values: list[str] = []
    with pytest.raises(NotCacheable):
        build(freeze(context("Alexandra"), values), len(values), render)
    parts = LetterParts()
    for name in ("Alexandra", "Sam", "Bo", "Alexandra"):
        assert parts.outputs("k", "en-US", context(name), render) == render(context(name))
    assert list(parts._parts.values()) == [None]


def test_a_value_only_written_out_is_filled_in_from_parts():
    render = render_with(
        {
            "s.txt": "Sorry {{ customer.first_name }}",
            "t.txt": "{% if customer.first_name %}Hi {{ customer.first_name }}{% endif %}!",
            "h.html": "<p>{{ ('Dear ' ~ customer.first_name)|e }}</p>",
        }
    )
    parts = LetterParts()
    for name in ("Sam", "Alexandra", "", "Tom & Jerry", " Sam", "Bo"):
        assert parts.outputs("k", "en-US", context(name), render) == render(context(name))
    # One key for a name, one for no name: both made of parts.
    assert len(parts._parts) == 2 and None not in parts._parts.values()
