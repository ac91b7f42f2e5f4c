"""Pure checks for incident fields."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from makegood.incidents.models import SEVERITIES

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def clean_names(values: Iterable[str], field: str, required: bool = False) -> list[str]:
    """Lowercase names (service, region, device, cause): kept in order, duplicates dropped."""
    names: list[str] = []
    for value in values:
        name = value.strip()
        if not NAME.match(name):
            raise ValueError(
                f"{field}: {value!r} is not a lowercase name like 'streaming' "
                "(letters, digits, - and _; starting with a letter)"
            )
        if name not in names:
            names.append(name)
    if required and not names:
        raise ValueError(f"{field}: at least one is required")
    return names


def check_window(start: datetime, end: datetime | None) -> None:
    for field, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{field}: {value.isoformat()} has no UTC offset")
    if end is not None and end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")


def check_severity(severity: str) -> str:
    if severity not in SEVERITIES:
        raise ValueError(f"severity: {severity!r} is not one of {', '.join(SEVERITIES)}")
    return severity


def check_summaries(summaries: dict[str, str]) -> dict[str, str]:
    """Translations of the summary, keyed by a locale ("de-DE") or a language ("ja")."""
    from babel import Locale, UnknownLocaleError  # only here: listing incidents needs no Babel

    clean = {}
    for tag, text in summaries.items():
        key = tag.strip().replace("_", "-")
        try:
            Locale.parse(key.replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            raise ValueError(
                f"summary for {tag!r}: not a locale (expected e.g. de-DE or ja)"
            ) from None
        if not text.strip():
            raise ValueError(f"summary for {tag!r} is empty")
        clean[key] = text.strip()
    return clean
