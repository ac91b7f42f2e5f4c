"""Templates to letters: Jinja2 with strict undefined variables, HTML autoescaped.

Templates live in one directory per locale (``en-US/claim_offer.html``); a locale
without its own set borrows the nearest of the same language (through CLDR's
parents: "es-AR" takes "es-MX" before "es-ES"), then the company's default locale. Operators
override any file by putting one at the same path in the directory named by the
``templates_dir`` setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)

from makegood.core.errors import ConfigurationError
from makegood.core.locales import closest
from makegood.messaging.letter_parts import LetterParts
from makegood.messaging.wording import sentence_start

# The letters makegood writes: a credit applied, a credit to claim, and the short
# notice a follow-up campaign sends when it closes a claim link or reverses a credit.
KINDS = ("automatic_credit", "claim_offer", "correction_notice")
FALLBACK_LOCALE = "en-US"


# No-break and thin spaces (Babel puts them in amounts: "0,45\u00a0€") and typographic
# apostrophes, which only UCS-2 can carry, as their plain GSM-7 forms.
_PLAIN = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2019": "'"})


class RenderError(ConfigurationError):
    """A template failed: a missing variable, a syntax error, a missing file."""


@dataclass(frozen=True)
class Letter:
    subject: str
    text: str
    html: str
    locale: str  # the template set used, after fallback


class Renderer:
    """Build once per process: it caches compiled templates and locale choices."""

    def __init__(self, override_dir: Path | None = None, *, parts: bool = True) -> None:
        loaders: list[Any] = []
        if override_dir is not None:
            if not override_dir.is_dir():
                raise ConfigurationError(f"templates_dir {override_dir} is not a directory")
            loaders.append(FileSystemLoader(override_dir))
        loaders.append(PackageLoader("makegood.messaging", "templates"))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html"], default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # Templates are read once per process: checking each file's mtime on
            # every render cost a stat() per template per message.
            auto_reload=False,
        )
        self.env.filters["sentence_start"] = sentence_start
        self._chosen: dict[tuple[str, str], str] = {}
        # Letters from parts rendered once per key (see letter_parts), for makegood's
        # own templates only: operators' templates are always rendered in full.
        self._parts = LetterParts() if parts and override_dir is None else None

    @cached_property
    def locales(self) -> frozenset[str]:
        """Every locale that has a template set, from the package and the overrides."""
        return frozenset(name.split("/", 1)[0] for name in self.env.list_templates() if "/" in name)

    def locale_for(self, tag: str, default: str = FALLBACK_LOCALE) -> str:
        """The template set for a customer's locale: the same tag, else its nearest CLDR
        relative of the same language, else the ``default`` locale's set."""
        key = (tag, default)
        if key not in self._chosen:
            self._chosen[key] = (
                closest(tag, self.locales) or closest(default, self.locales) or FALLBACK_LOCALE
            )
        return self._chosen[key]

    def render(self, kind: str, tag: str, context: dict[str, Any]) -> Letter:
        """Subject, text and HTML for one message; any template problem is a RenderError."""
        if kind not in KINDS:
            raise RenderError(f"no templates for message kind {kind!r}; known: {', '.join(KINDS)}")
        locale = self.locale_for(tag)

        def in_full(context: dict[str, Any]) -> dict[str, str]:
            return self._outputs(kind, locale, context)

        if self._parts is None:
            written = in_full(context)
        else:
            written = self._parts.outputs(kind, locale, context, in_full)
        subject = " ".join(written["subject"].split())  # one line, whatever the file holds
        if not subject:
            raise RenderError(f"template {locale}/{kind}.subject.txt rendered an empty subject")
        return Letter(subject=subject, text=written["text"], html=written["html"], locale=locale)

    def _outputs(self, kind: str, locale: str, context: dict[str, Any]) -> dict[str, str]:
        """The three templates of ``kind`` as they render ``context``."""
        parts = {}
        for part, suffix in (("subject", "subject.txt"), ("text", "txt"), ("html", "html")):
            name = f"{locale}/{kind}.{suffix}"
            try:
                parts[part] = self.env.get_template(name).render(context)
            except TemplateError as exc:
                raise RenderError(f"template {name}: {exc}") from None
        return parts

    def render_sms(self, kind: str, tag: str, context: dict[str, Any]) -> Letter:
        """The text message for one message (``{locale}/{kind}.sms.txt``) as one line:
        no-break spaces and curly apostrophes become their plain forms, which keeps a
        Latin-script text in the GSM-7 alphabet (160 characters a part, not 70)."""
        if kind not in KINDS:
            raise RenderError(f"no templates for message kind {kind!r}; known: {', '.join(KINDS)}")
        locale = self.locale_for(tag)
        name = f"{locale}/{kind}.sms.txt"
        try:
            text = self.env.get_template(name).render(context)
        except TemplateError as exc:
            raise RenderError(f"template {name}: {exc}") from None
        text = " ".join(text.translate(_PLAIN).split())
        if not text:
            raise RenderError(f"template {name} rendered an empty text")
        return Letter(subject="", text=text, html="", locale=locale)
