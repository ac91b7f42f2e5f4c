"""Which template set, and which summary, a reader gets: their CLDR lineage within
their own language, then the company's default, never another language by chance."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from makegood.config import CompanySettings
from makegood.core.locales import closest, lineage
from makegood.messaging.letters import compose, what_failed
from makegood.messaging.rendering import Renderer
from tests.unit.test_letters import FACTS

SETS = (
    "en-US", "en-GB", "en-CA", "en-AU", "de-DE", "fr-FR", "es-ES", "es-MX", "pt-BR",
    "it-IT", "nl-NL", "ja-JP", "ko-KR", "zh-CN", "ar",
)  # fmt: skip


@pytest.mark.parametrize(
    ("reader", "chosen"),
    [
        ("es-AR", "es-MX"),  # Latin American Spanish before Spain's
        ("es-419", "es-MX"),
        ("es-ES", "es-ES"),
        ("es", "es-ES"),  # a bare language: CLDR's likeliest region
        ("en", "en-US"),
        ("en-IN", "en-GB"),  # international English
        ("en-NZ", "en-GB"),
        ("en-ca", "en-CA"),
        ("EN_us", "en-US"),
        ("ar-BH", "ar"),
        ("ar-EG", "ar"),
        ("pt-PT", "pt-BR"),
        ("de-AT", "de-DE"),
        ("zh-SG", "zh-CN"),  # simplified Chinese shares zh-Hans
        ("ko", "ko-KR"),
        ("sw-KE", None),  # no Swahili set: the caller decides
        ("xx-YY", None),
    ],
)
def test_a_reader_gets_the_nearest_set_of_their_own_language(reader, chosen):
    assert closest(reader, SETS) == chosen


def test_lineage_follows_cldr_parents_down_to_the_language():
    assert lineage("es-AR") == ("es-ar", "es-419", "es")
    assert lineage("en-IN") == ("en-in", "en-001", "en")
    assert lineage("zh-TW")[-1] == "zh"
    assert lineage("xx-YY") == ("xx-yy", "xx")  # unknown to CLDR: itself, then its language


def test_a_language_without_letters_gets_the_companys_default_locale():
    renderer = Renderer()
    swahili = dataclasses.replace(FACTS, locale="sw-KE")
    assert compose(renderer, swahili, CompanySettings()).locale == "en-US"
    german_company = CompanySettings(default_locale="de-DE")
    assert compose(renderer, swahili, german_company).locale == "de-DE"
    # A reader whose language has letters never gets the company's language instead.
    assert compose(renderer, dataclasses.replace(FACTS, locale="ko-KR"), german_company).locale == (
        "ko-KR"
    )


@pytest.mark.parametrize("default", ["en-US", "de-DE"])
def test_the_plain_summary_is_used_only_in_the_companys_own_language(default):
    start = datetime(2026, 3, 5, 0, 30, tzinfo=UTC)
    end = datetime(2026, 3, 5, 3, 30, tzinfo=UTC)

    def said(tag: str) -> str:
        return what_failed(
            tag,
            "America/New_York",
            summary="PLAIN",
            summaries={"fr": "FRANÇAIS"},
            services=["streaming"],
            start=start,
            end=end,
            default_locale=default,
        )

    assert said(default) == "PLAIN"
    assert said("fr-CA") == "FRANÇAIS"  # a summary written for the language
    other = "ja-JP"
    made = said(other)
    assert made not in ("PLAIN", "FRANÇAIS") and made  # a sentence written for Japanese
