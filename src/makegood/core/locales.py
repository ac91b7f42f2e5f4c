"""Choosing among things kept per locale (template sets, translated summaries).

A reader's tag is matched through its CLDR lineage: "es-AR" is Latin American
Spanish ("es-419") before it is Spanish ("es"), "en-IN" is international English
("en-001") before it is English. Nothing of another language is ever chosen here;
what to do then is the caller's decision (the company's default locale).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

# Where CLDR groups several regions under one parent, the region a reader of that
# group is best served by when only regional sets exist.
REPRESENTATIVE = {"en-001": "en-gb", "en-150": "en-gb", "es-419": "es-mx"}


@lru_cache(maxsize=4096)
def normal(tag: str) -> str:
    """A tag compared without case, with "-" between subtags."""
    return tag.strip().replace("_", "-").lower()


@lru_cache(maxsize=4096)
def language(tag: str) -> str:
    return normal(tag).split("-", 1)[0]


@lru_cache(maxsize=1024)
def lineage(tag: str) -> tuple[str, ...]:
    """The tag, then its CLDR parents down to the bare language, lowercase:
    "es-AR" → ("es-ar", "es-419", "es"); "zh-TW" → ("zh-tw", "zh-hant-tw", "zh-hant", "zh")."""
    from babel.core import Locale, UnknownLocaleError, get_global

    chain = [normal(tag)]
    try:
        parsed = Locale.parse(chain[0].replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        parsed = None
    if parsed is not None:
        parents = get_global("parent_exceptions")
        current = "-".join(p for p in (parsed.language, parsed.script, parsed.territory) if p)
        while current and current.lower() not in chain[1:]:
            if current.lower() != chain[0]:
                chain.append(current.lower())
            exception = parents.get(current.replace("-", "_"))
            current = exception.replace("_", "-") if exception else current.rpartition("-")[0]
    if language(tag) not in chain:
        chain.append(language(tag))
    return tuple(chain)


def closest(tag: str, available: Iterable[str]) -> str | None:
    """The best of ``available`` for a reader's BCP 47 tag, of the reader's language
    only: the same tag, else the nearest CLDR relative, else None. Case and "_" for
    "-" do not matter; the key is returned as ``available`` spells it."""
    return _closest(tag, tuple(available))


@lru_cache(maxsize=4096)
def _closest(tag: str, available: tuple[str, ...]) -> str | None:
    # Every letter asks the same few questions: asked once per process.
    by_key = {normal(a): a for a in available}
    wanted = lineage(tag)
    if wanted[0] in by_key:
        return by_key[wanted[0]]
    same = [k for k in by_key if language(k) == language(tag)]
    if not same:
        return None
    return by_key[min(same, key=lambda key: _distance(wanted, key))]


def _distance(wanted: tuple[str, ...], key: str) -> tuple[int, int, int, str]:
    """Nearest shared ancestor first; then the set that stands for that ancestor;
    then the fewest steps from the set up to it; then by name, for a stable choice."""
    theirs = lineage(key)
    depth = next((i for i, t in enumerate(wanted) if t in theirs), len(wanted))
    shared = wanted[depth] if depth < len(wanted) else ""
    stands_for = key in (REPRESENTATIVE.get(shared), _likely(shared))
    steps = theirs.index(shared) if shared in theirs else len(theirs)
    return (depth, 0 if stands_for else 1, steps, key)


@lru_cache(maxsize=256)
def _likely(tag: str) -> str:
    """CLDR's most likely regional form of a bare language: "en" → "en-us"."""
    if "-" in tag or not tag:
        return ""
    from babel.core import get_global

    likely = get_global("likely_subtags").get(tag, "")
    parts = likely.split("_")
    return f"{parts[0]}-{parts[-1]}".lower() if len(parts) > 1 else ""
