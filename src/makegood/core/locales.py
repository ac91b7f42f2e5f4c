"""Choosing among things kept per locale (template sets, translated summaries)."""

from __future__ import annotations

from collections.abc import Iterable


def closest(tag: str, available: Iterable[str]) -> str | None:
    """The best of ``available`` for a reader's BCP 47 tag: the same tag, then the
    bare language ("de"), then the first of the same language ("de-DE" for "de-AT");
    None when none shares the language. Case and "_" for "-" do not matter."""
    wanted = tag.replace("_", "-").lower()
    language = wanted.split("-", 1)[0]
    by_key = {a.replace("_", "-").lower(): a for a in available}
    if wanted in by_key:
        return by_key[wanted]
    if language in by_key:
        return by_key[language]
    same = sorted(k for k in by_key if k.split("-", 1)[0] == language)
    return by_key[same[0]] if same else None
