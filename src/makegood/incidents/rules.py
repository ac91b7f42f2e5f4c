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
