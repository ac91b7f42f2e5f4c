"""The eight later locales: Arabic (right to left), Canadian and Australian English,
Mexican Spanish, Italian, Dutch, Korean and Simplified Chinese — letters, time words,
the sentence written when no person wrote a summary, and the claim page's words."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from makegood.config import CompanySettings
from makegood.messaging import wording
from makegood.messaging.letters import LetterFacts, Shipment, compose, money
from makegood.messaging.rendering import KINDS, Renderer
from makegood.messaging.written_summary import SHAPES, written_summary
from makegood.web import claim as claim_page
from makegood.web.words import WORDS, negotiate, text_direction, words_for

RENDERER = Renderer()
COMPANY = CompanySettings(
    support_phones={
        "US": "1-800-555-0100",
        "BH": "+973 1700 0000",
        "KR": "1588-0000",
        "default": "1-800-555-0100",
    }
)

# locale → (currency, zone, country): the markets these letters are written for.
MARKETS = {
    "ar": ("BHD", "Asia/Bahrain", "BH"),
    "en-CA": ("CAD", "America/Toronto", "CA"),
    "en-AU": ("AUD", "Australia/Sydney", "AU"),
    "es-MX": ("MXN", "America/Mexico_City", "MX"),
    "it-IT": ("EUR", "Europe/Rome", "IT"),
    "nl-NL": ("EUR", "Europe/Amsterdam", "NL"),
    "ko-KR": ("KRW", "Asia/Seoul", "KR"),
    "zh-CN": ("CNY", "Asia/Shanghai", "CN"),
}
NOT_ENGLISH = ("ar", "es-MX", "it-IT", "nl-NL", "ko-KR", "zh-CN")
# Sentences and words of the English letters that must never show in another language.
ENGLISH_WORDS = re.compile(
    r"\b(we're sorry|we let you down|credit|statement|questions|your time|"
    r"apply my credit|nothing you need to do|call us|shipping|hello|hi)\b",
    re.IGNORECASE,
)


def facts(tag: str, kind: str, first_name: str = "Layla") -> LetterFacts:
    """An evening streaming outage told the next morning, with two late orders."""
    currency, zone, country = MARKETS[tag]
    language = tag.split("-")[0]
    summary = written_summary(["streaming", "shipping"], None, None, tag)
    return LetterFacts(
        kind=kind,
        first_name=first_name,
        email="layla@example.com",
        locale=tag,
        timezone=zone,
        country=country,
        incident_title="Streaming and shipping down",
        incident_summary="Our streaming and shipping systems were down.",
        incident_start=datetime(2008, 3, 24, 14, tzinfo=UTC),
        incident_end=datetime(2008, 3, 24, 18, tzinfo=UTC),
        amount_minor=1250 if currency != "KRW" else 12500,
        currency=currency,
        percent=Decimal(5) if kind == "automatic_credit" else Decimal(2),
        statement_date=date(2008, 4, 3) if kind == "automatic_credit" else None,
        expires_at=datetime(2008, 4, 1, 16, tzinfo=UTC),
        claim_url="https://video.example.com/claim/abc" if kind == "claim_offer" else None,
        sent_at=datetime(2008, 3, 25, 16, tzinfo=UTC),
        shipments=(
            Shipment("A-1", datetime(2008, 3, 24, 20, tzinfo=UTC), None),
            Shipment(
                "A-2",
                datetime(2008, 3, 24, 12, tzinfo=UTC),
                datetime(2008, 3, 25, 9, tzinfo=UTC),
            ),
        ),
        incident_summaries={language: summary},
        correction="reverse" if kind == "correction_notice" else None,
    )


def phone_of(tag: str) -> str:
    country = MARKETS[tag][2]
    return COMPANY.support_phones.get(country) or COMPANY.support_phones["default"]


@pytest.mark.parametrize("tag", MARKETS)
@pytest.mark.parametrize("kind", KINDS)
def test_each_new_locale_renders_every_kind_from_its_own_set(tag, kind):
    letter = compose(RENDERER, facts(tag, kind), COMPANY)
    currency = MARKETS[tag][0]
    amount = money(12500 if currency == "KRW" else 1250, currency, tag)
    assert letter.locale == tag
    assert letter.subject and "\n" not in letter.subject
    assert f'lang="{tag}"' in letter.html and "<script" not in letter.html.lower()
    for body in (letter.text, letter.html):
        assert amount in body
        assert phone_of(tag) in body
        assert "Layla" in body
    if kind == "claim_offer":
        assert letter.html.count('href="https://video.example.com/claim/abc"') == 2
        assert "https://video.example.com/claim/abc" in letter.text
    elif kind == "automatic_credit":
        assert "A-1" in letter.text and "A-2" in letter.text


@pytest.mark.parametrize("tag", MARKETS)
@pytest.mark.parametrize("kind", KINDS)
def test_without_a_first_name_the_letter_still_greets(tag, kind):
    letter = compose(RENDERER, facts(tag, kind, first_name=""), COMPANY)
    first_line = letter.text.strip().splitlines()[0]
    assert first_line.strip() and "None" not in letter.text


@pytest.mark.parametrize("tag", NOT_ENGLISH)
@pytest.mark.parametrize("kind", KINDS)
def test_no_english_template_sentence_leaks_into_another_language(tag, kind):
    letter = compose(RENDERER, facts(tag, kind), COMPANY)
    for part in (letter.subject, letter.text, letter.html):
        assert ENGLISH_WORDS.findall(part) == []


@pytest.mark.parametrize("kind", KINDS)
def test_the_arabic_letter_reads_right_to_left(kind):
    html = compose(RENDERER, facts("ar", kind), COMPANY).html
    assert '<html lang="ar" dir="rtl">' in html
    # Mail clients that drop <html> attributes still get the direction from the tables.
    assert html.count('<table role="presentation" width="100%"') == html.count(
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" dir="rtl"'
    )
    assert "text-align:right" in html
    # A phone number with spaces keeps its digit groups in order.
    assert '<strong dir="ltr">+973 1700 0000</strong>' in html


def test_the_arabic_text_letter_isolates_the_phone_number():
    text = compose(RENDERER, facts("ar", "automatic_credit"), COMPANY).text
    assert "\u200e+973 1700 0000\u200e" in text


@pytest.mark.parametrize(
    "tag", ["en-US", "en-GB", "de-DE", "ja-JP", *sorted(MARKETS.keys() - {"ar"})]
)
def test_left_to_right_letters_carry_no_direction_at_all(tag):
    # Left to right is every client's default: these letters stay as they always were.
    if tag in MARKETS:
        letter = compose(RENDERER, facts(tag, "claim_offer"), COMPANY)
    else:
        letter = compose(
            RENDERER, dataclasses.replace(facts("en-CA", "claim_offer"), locale=tag), COMPANY
        )
    assert " dir=" not in letter.html and "direction:" not in letter.html


def test_canadian_and_australian_letters_speak_their_own_english():
    canada = compose(RENDERER, facts("en-CA", "automatic_credit"), COMPANY)
    australia = compose(RENDERER, facts("en-AU", "automatic_credit"), COMPANY)
    assert "call us at" in canada.text and "CA$" not in canada.text  # CAD in Canada is "$"
    assert "call us on" in australia.text and "apologise" in australia.text
    assert "3 April 2008" in australia.text and "April 3, 2008" in canada.text


def test_the_mexican_letter_uses_mexican_words():
    letter = compose(RENDERER, facts("es-MX", "automatic_credit"), COMPANY)
    assert "estado de cuenta" in letter.text and "bonificación" in letter.text
    assert not re.search(r"\b(vale|vosotros|ordenador|móvil|le fallamos)\b", letter.text, re.I)


@pytest.mark.parametrize(
    ("tag", "last_night", "on_monday"),
    [
        ("it-IT", "ieri sera", "lunedì"),
        ("nl-NL", "gisteravond", "maandag"),
        ("ko-KR", "어젯밤", "월요일에"),
        ("zh-CN", "昨晚", "星期一"),
        ("ar", "الليلة الماضية", "يوم الاثنين"),
    ],
)
def test_time_words_are_the_readers_own(tag, last_night, on_monday):
    evening = datetime(2008, 3, 24, 19, 30, tzinfo=UTC)  # 19:30 in London
    next_morning = datetime(2008, 3, 25, 9, tzinfo=UTC)
    short = wording.when(evening, evening.replace(hour=22), next_morning, "Europe/London", tag)
    assert short == last_night
    thursday = datetime(2008, 3, 27, 12, tzinfo=UTC)
    assert wording.when(evening, None, thursday, "Europe/London", tag) == on_monday


# ---- the sentence written when no person wrote a summary in the reader's language

LANGUAGES = ("en", "de", "fr", "es", "pt", "ja", "ar", "it", "nl", "ko", "zh")
# Names no other language borrows: any of them in a non-English sentence is a leak.
PLAINLY_ENGLISH = (
    "shipping",
    "delivery",
    "billing",
    "payments",
    "search",
    "support",
    "checkout",
    "orders",
    "notifications",
    "playback",
    "one-thing",
)
NO_LATIN = ("ja", "ar", "ko", "zh")


def test_the_english_sentences_are_the_documented_ones():
    assert (
        written_summary(["streaming"], "7:30 PM", "10:30 PM", "en-US")
        == "Our streaming service did not work as it should between 7:30 PM and 10:30 PM."
    )
    assert (
        written_summary(["streaming", "shipping"], None, None, "en-US")
        == "Our streaming and shipping services did not work as they should."
    )
    assert (
        written_summary(["one-thing"], None, None, "en-US")
        == "One of our services did not work as it should."
    )


def test_every_language_with_letters_has_its_own_sentences():
    assert set(LANGUAGES) <= {key.split("-")[0] for key in SHAPES}
    english = written_summary(["streaming"], None, None, "en")
    for language in LANGUAGES[1:]:
        assert written_summary(["streaming"], None, None, language) != english


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "services",
    [["streaming"], ["streaming", "shipping"], ["shipping", "billing", "login"], ["one-thing"]],
)
@pytest.mark.parametrize("times", [(None, None), ("19:30", "22:30")])
def test_one_sentence_in_the_readers_language(language, services, times):
    sentence = written_summary(services, times[0], times[1], language)
    ending = "。" if language in ("ja", "zh") else "."
    assert sentence.endswith(ending) and sentence.count(ending) == 1
    assert sentence[0] == sentence[0].upper()
    if times[0]:
        assert "19:30" in sentence and "22:30" in sentence
    if language != "en":
        for name in PLAINLY_ENGLISH:
            assert not re.search(rf"\b{re.escape(name)}\b", sentence, re.I), (name, sentence)
    if language in NO_LATIN:
        assert not re.search(r"[A-Za-z]", sentence), sentence


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unknown_service_makes_the_whole_sentence_generic(language):
    generic = written_summary(["one-thing"], None, None, language)
    assert written_summary(["streaming", "one-thing"], None, None, language) == generic
    assert written_summary([], None, None, language) == generic
    assert "one-thing" not in generic
    assert written_summary(["streaming"], None, None, language) != generic


def test_only_one_clock_time_names_no_window():
    assert "7:30" not in written_summary(["streaming"], "7:30 PM", None, "en-US")
    assert "19:30" not in written_summary(["streaming"], None, "19:30", "de-DE")


@pytest.mark.parametrize(
    ("tag", "conjunction"), [("ko", "및"), ("zh", "和"), ("ar", " و"), ("it", " e ")]
)
def test_several_services_are_joined_the_way_the_language_lists_things(tag, conjunction):
    assert conjunction in written_summary(["streaming", "shipping", "billing"], None, None, tag)


def test_spanish_names_follow_the_region():
    assert "vídeos" in written_summary(["video"], None, None, "es-ES")
    assert "videos" in written_summary(["video"], None, None, "es-MX")


def test_names_are_matched_without_case_or_spaces_and_counted_once():
    assert written_summary([" Streaming ", "streaming"], None, None, "en") == (
        "Our streaming service did not work as it should."
    )


def test_an_unknown_language_reads_english():
    assert written_summary(["streaming"], None, None, "xx") == written_summary(
        ["streaming"], None, None, "en"
    )


# ---- the claim page


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


@pytest.mark.parametrize("language", sorted(WORDS))
def test_every_language_has_every_sentence_of_the_claim_page(language):
    english = WORDS["en"]
    assert WORDS[language].keys() == english.keys()
    for key, sentence in WORDS[language].items():
        assert sentence.strip(), key
        assert placeholders(sentence) == placeholders(english[key]), key


@pytest.mark.parametrize("language", ["ar", "it", "nl", "ko", "zh", "es-MX"])
def test_the_new_claim_pages_are_not_english(language):
    for key, sentence in WORDS[language].items():
        assert sentence != WORDS["en"][key], key
        assert not ENGLISH_WORDS.search(sentence), (key, sentence)


def test_the_page_reads_right_to_left_for_arabic_only():
    assert text_direction("ar-SA") == "rtl" and text_direction("ar") == "rtl"
    assert text_direction("ko-KR") == "ltr" and text_direction("en-US") == "ltr"
    # Hebrew has no words of its own yet: the English page it gets reads left to right.
    assert text_direction("he-IL") == "ltr"


def test_regional_words_and_language_words():
    assert words_for("es-MX") is WORDS["es-MX"]
    assert words_for("es-ES") is WORDS["es"]
    assert words_for("ko-KR") is WORDS["ko"] and words_for("zh-CN") is WORDS["zh"]
    assert negotiate("ar-BH,en;q=0.5") == "ar-BH"


def test_the_arabic_claim_page_is_mirrored_and_the_others_are_not():
    values = {
        "state": "offer",
        "csrf": "x",
        "action": "/claim/t",
        "amount": money(450, "BHD", "ar-BH"),
        "statement": "3 أبريل 2008",
        "deadline": "الثلاثاء، 1 أبريل 2008، 7:00 م",
        "phone": "+973 1700 0000",
        "first_name": "Layla",
        "summary": written_summary(["streaming"], None, None, "ar"),
    }
    arabic = claim_page.page("claim.html", 200, "ar-BH", "Example Video", **values)
    html = bytes(arabic.body).decode()
    assert '<html lang="ar-BH" dir="rtl">' in html
    assert WORDS["ar"]["button"] in html and "الثلاثاء، 1 أبريل 2008، 7:00 م" in html
    korean = claim_page.page("notice.html", 404, "ko-KR", "Example Video", state="unknown")
    page = bytes(korean.body).decode()
    assert '<html lang="ko-KR">' in page and WORDS["ko"]["unknown_title"] in page


def test_korean_mail_breaks_lines_between_words_only():
    korean = compose(RENDERER, facts("ko-KR", "claim_offer"), COMPANY).html
    chinese = compose(RENDERER, facts("zh-CN", "claim_offer"), COMPANY).html
    assert "word-break:keep-all" in korean and "word-break:keep-all" not in chinese
