"""What the claim page says, per language (Spanish also per region). Dates, times and
money are formatted by Babel in the reader's locale; these are only the sentences
around them."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from importlib import resources

from makegood.core.locales import closest

# The sentences, per language, in words.json: translators edit that file alone.
WORDS: dict[str, dict[str, str]] = json.loads(
    resources.files("makegood.web").joinpath("words.json").read_text("utf-8")
)

# Languages written right to left; the page's direction follows the words it shows.
RIGHT_TO_LEFT = frozenset({"ar", "fa", "he", "ur"})


def words_for(tag: str) -> dict[str, str]:
    """The sentences for a BCP 47 tag: its language, else English."""
    language = closest(tag, WORDS) or "en"
    return WORDS[language]


def page_locale(tag: str, default: str) -> str:
    """The locale a customer's page speaks: theirs when there are words in their
    language, else the company's default, as their letter did."""
    return tag if closest(tag, WORDS) is not None else default


def text_direction(tag: str) -> str:
    """The page's direction for ``tag``: "rtl" for a right-to-left language, else "ltr"."""
    language = (closest(tag, WORDS) or "en").split("-", 1)[0].lower()
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def negotiate(accept_language: str | None) -> str:
    """The best tag from an Accept-Language header, for pages that know no customer."""
    best: tuple[Decimal, str] = (Decimal(0), "en-US")
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = Decimal(1)
        if params.strip().startswith("q="):
            try:
                quality = Decimal(params.strip()[2:])
            except InvalidOperation:
                continue
            if not quality.is_finite():
                continue
        if tag and tag != "*" and closest(tag, WORDS) and quality > best[0]:
            best = (quality, tag)
    return best[1]
