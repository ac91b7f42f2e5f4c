"""The one source of 'now'. Every command takes its instant from a Clock, so
``--now`` can replay history and tests can pin time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock stopped at one instant (``--now`` / ``MAKEGOOD_NOW``)."""

    def __init__(self, instant: datetime) -> None:
        self._instant = ensure_aware(instant, "now")

    def now(self) -> datetime:
        return self._instant


def ensure_aware(value: datetime, field: str) -> datetime:
    """Return ``value`` in UTC; a naive datetime is an error, never a guess."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(
            f"{field}: {value.isoformat()} has no UTC offset; write it with one, "
            "e.g. 2026-03-02T18:00:00-05:00 or 2026-03-02T23:00:00Z"
        )
    return value.astimezone(UTC)


def parse_instant(text: str, field: str) -> datetime:
    """Parse an ISO-8601 instant that carries an offset (or Z) into UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{field}: {text!r} is not an ISO-8601 instant (expected e.g. 2026-03-02T18:00:00Z)"
        ) from None
    return ensure_aware(value, field)
