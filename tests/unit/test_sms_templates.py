"""The SMS templates: one short paragraph per locale and kind, in the reader's language,
within the segment budget for realistic values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from makegood.messaging.sms_text import sms_length

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "makegood" / "messaging" / "templates"
KINDS = ("automatic_credit", "claim_offer", "correction_notice")
# A correction notice says one of two things: its claim link closed, or its credit reversed.
ACTIONS = ("close", "reverse")
COMPANY = "Example Video"
URL = "https://video.example.com/c/AbCdEfGhIjKlMnOpQ"
assert len(URL) == 45

# Per locale: (when, amount, long date), as the letters write them. Amounts use a plain
# space where Babel writes a no-break space (see test_a_no_break_space_forces_ucs2).
VALUES = {
    "ar": ("الليلة الماضية", "0.450 د.ب.", "1 أبريل 2025"),
    "de-DE": ("gestern Abend", "0,45 €", "1. April 2025"),
    "en-AU": ("last night", "$0.45", "1 April 2025"),
    "en-CA": ("last night", "$0.45", "April 1, 2025"),
    "en-GB": ("last night", "£0.45", "1 April 2025"),
    "en-US": ("last night", "$0.45", "April 1, 2025"),
    "es-ES": ("anoche", "0,45 €", "1 de abril de 2025"),
    "es-MX": ("anoche", "$0.45", "1 de abril de 2025"),
    "fr-FR": ("hier soir", "0,45 €", "1 avril 2025"),
    "it-IT": ("ieri sera", "0,45 €", "1 aprile 2025"),
    "ja-JP": ("昨夜", "￥70", "2025年4月1日"),
    "ko-KR": ("어젯밤", "₩700", "2025년 4월 1일"),
    "nl-NL": ("gisteravond", "€ 0,45", "1 april 2025"),
    "pt-BR": ("ontem à noite", "R$ 0,45", "1 de abril de 2025"),
    "zh-CN": ("昨晚", "¥0.45", "2025年4月1日"),
}
LATIN = {tag for tag in VALUES if tag not in {"ar", "ja-JP", "ko-KR", "zh-CN"}}
ENGLISH_WORDS = re.compile(r"\b(credit|claim|sorry|bill|statement|thanks|your)\b", re.IGNORECASE)

# What each message measures with the values above: (encoding, segments).
EXPECTED = {
    ("ar", "automatic_credit"): ("UCS-2", 3),
    ("ar", "claim_offer"): ("UCS-2", 3),
    ("de-DE", "automatic_credit"): ("GSM-7", 2),
    ("de-DE", "claim_offer"): ("GSM-7", 2),
    ("en-AU", "automatic_credit"): ("GSM-7", 1),
    ("en-AU", "claim_offer"): ("GSM-7", 1),
    ("en-CA", "automatic_credit"): ("GSM-7", 1),
    ("en-CA", "claim_offer"): ("GSM-7", 1),
    ("en-GB", "automatic_credit"): ("GSM-7", 1),
    ("en-GB", "claim_offer"): ("GSM-7", 1),
    ("en-US", "automatic_credit"): ("GSM-7", 1),
    ("en-US", "claim_offer"): ("GSM-7", 1),
    ("es-ES", "automatic_credit"): ("GSM-7", 1),
    ("es-ES", "claim_offer"): ("GSM-7", 1),
    ("es-MX", "automatic_credit"): ("GSM-7", 2),
    ("es-MX", "claim_offer"): ("GSM-7", 2),
    ("fr-FR", "automatic_credit"): ("GSM-7", 2),
    ("fr-FR", "claim_offer"): ("GSM-7", 2),
    ("it-IT", "automatic_credit"): ("GSM-7", 2),
    ("it-IT", "claim_offer"): ("GSM-7", 2),
    ("ja-JP", "automatic_credit"): ("UCS-2", 2),
    ("ja-JP", "claim_offer"): ("UCS-2", 3),
    ("ko-KR", "automatic_credit"): ("UCS-2", 2),
    ("ko-KR", "claim_offer"): ("UCS-2", 3),
    ("nl-NL", "automatic_credit"): ("GSM-7", 1),
    ("nl-NL", "claim_offer"): ("GSM-7", 2),
    ("pt-BR", "automatic_credit"): ("GSM-7", 1),
    ("pt-BR", "claim_offer"): ("GSM-7", 1),
    ("zh-CN", "automatic_credit"): ("UCS-2", 2),
    ("zh-CN", "claim_offer"): ("UCS-2", 2),
}
# A correction notice, the longer of its two actions (close, reverse).
EXPECTED.update(
    {
        (tag, "correction_notice"): measured
        for tag, measured in {
            "ar": ("UCS-2", 2),
            "de-DE": ("GSM-7", 2),
            "en-AU": ("GSM-7", 1),
            "en-CA": ("GSM-7", 1),
            "en-GB": ("GSM-7", 1),
            "en-US": ("GSM-7", 1),
            "es-ES": ("GSM-7", 1),
            "es-MX": ("GSM-7", 1),
            "fr-FR": ("GSM-7", 2),
            "it-IT": ("GSM-7", 2),
            "ja-JP": ("UCS-2", 2),
            "ko-KR": ("UCS-2", 2),
            "nl-NL": ("GSM-7", 1),
            "pt-BR": ("GSM-7", 1),
            "zh-CN": ("UCS-2", 1),
        }.items()
    }
)

# The settings the letters' renderer uses, so a stray newline would show here too.
ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def context(tag: str, kind: str, action: str = "reverse") -> dict[str, object]:
    when, amount, day = VALUES[tag]
    claim = {"url": URL, "deadline": day} if kind == "claim_offer" else None
    correction = None
    if kind == "correction_notice":
        correction = {
            "action": action,
            "closed": action == "close",
            "reversed": action == "reverse",
        }
    return {
        "company": {"name": COMPANY},
        "customer": {"first_name": ""},
        "incident": {"when": when},
        "credit": {
            "amount": amount,
            "percent": None,
            "statement": day if kind == "automatic_credit" else None,
        },
        "claim": claim,
        "correction": correction,
        "support_phone": "+1 800 555 0100",
    }


def render(tag: str, kind: str, action: str = "reverse") -> str:
    return ENV.get_template(f"{tag}/{kind}.sms.txt").render(context(tag, kind, action))


def texts(tag: str, kind: str) -> list[str]:
    """The message of a kind as it can be sent: a correction notice once per action."""
    if kind == "correction_notice":
        return [render(tag, kind, action) for action in ACTIONS]
    return [render(tag, kind)]


def test_every_locale_directory_has_every_kinds_sms_template():
    locales = sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir())
    assert locales == sorted(VALUES)
    for tag in locales:
        for kind in KINDS:
            assert (TEMPLATES / tag / f"{kind}.sms.txt").is_file(), (tag, kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tag", sorted(VALUES))
def test_sms_renders_one_paragraph_with_the_facts(tag, kind):
    for text in texts(tag, kind):
        assert "{{" not in text and "{%" not in text and "}}" not in text
        assert "\n" not in text and "\r" not in text
        assert text == text.strip()
        # The sender comes first (after a right-to-left mark or an opening bracket).
        assert 0 <= text.find(COMPANY) <= 1, text
        assert VALUES[tag][1] in text
        assert VALUES[tag][0] in text
        if kind == "claim_offer":
            assert text.endswith(URL)
            assert VALUES[tag][2] in text
        elif kind == "automatic_credit":
            assert URL not in text
            assert VALUES[tag][2] in text
        else:  # a correction notice names no statement and no link
            assert URL not in text and VALUES[tag][2] not in text
        assert "unsubscribe" not in text.lower() and "STOP" not in text


@pytest.mark.parametrize("tag", sorted(VALUES))
def test_a_correction_notice_says_which_correction_it_is(tag):
    closed, reversed_ = texts(tag, "correction_notice")
    assert closed != reversed_


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tag", sorted(VALUES))
def test_sms_fits_its_segment_budget(tag, kind):
    lengths = [sms_length(text) for text in texts(tag, kind)]
    for length in lengths:
        if tag in LATIN:
            assert length.encoding == "GSM-7"
            assert length.segments <= 2
        else:
            assert length.encoding == "UCS-2"
            assert length.segments <= 3
    longest = max(lengths, key=lambda length: length.segments)
    assert (longest.encoding, longest.segments) == EXPECTED[(tag, kind)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tag", sorted(tag for tag in VALUES if not tag.startswith("en-")))
def test_no_english_words_in_other_languages(tag, kind):
    for text in texts(tag, kind):
        text = text.replace(COMPANY, "").replace(URL, "")
        assert ENGLISH_WORDS.findall(text) == []


def test_the_templates_do_not_use_a_curly_apostrophe():
    # ’ is outside GSM-7: one in a French or Italian message would make it UCS-2.
    for path in TEMPLATES.glob("*/*.sms.txt"):
        assert "’" not in path.read_text(encoding="utf-8"), path


def test_a_no_break_space_forces_ucs2():
    # Babel writes "0,45\xa0€"; the sender has to turn that into a plain space, or the
    # German message goes out as UCS-2 in more parts.
    plain = render("de-DE", "automatic_credit")
    assert sms_length(plain).encoding == "GSM-7"
    assert sms_length(plain.replace("0,45 €", "0,45\xa0€")).encoding == "UCS-2"
