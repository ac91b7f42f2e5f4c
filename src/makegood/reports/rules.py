"""Pure arithmetic for the incident report: medians, shares, and the interval around
a difference of two proportions. No I/O.

The interval is Newcombe's hybrid score interval (Newcombe 1998, method 10): a
Wilson score interval for each proportion, combined into one for their difference.
Unlike the Wald interval it stays inside [-1, 1], keeps close to its stated coverage
for small groups and for shares near 0 or 1 (retention usually is near 1), and needs
no continuity correction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

Z_95 = 1.959963984540054  # the standard normal quantile at 0.975
METHOD = "Newcombe hybrid score interval (Wilson score for each group), 95%"
PLACES = Decimal("0.0001")


def fraction(part: int, whole: int, places: Decimal = PLACES) -> Decimal | None:
    """``part / whole`` rounded half up to ``places``; None when ``whole`` is 0."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(places, rounding=ROUND_HALF_UP)


def median(values: list[timedelta]) -> timedelta | None:
    """The middle value of sorted durations; the mean of the two middle ones for an even
    count (to the microsecond)."""
    if not values:
        return None
    n = len(values)
    low, high = values[(n - 1) // 2], values[n // 2]
    return low + (high - low) / 2


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a proportion ``successes / n`` (n > 0)."""
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Difference:
    """``p1 - p2`` with its interval, all as fractions (0.031 is 3.1 points)."""

    p1: float
    p2: float
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.p1 - self.p2

    @property
    def includes_zero(self) -> bool:
        return self.low <= 0 <= self.high


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> Difference:
    """The difference of two proportions with Newcombe's hybrid score interval."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Difference(p1, p2, low, high)


def rounded(value: float) -> Decimal:
    """A rate or interval end as a Decimal with four places, for display."""
    return Decimal(repr(value)).quantize(PLACES, rounding=ROUND_HALF_UP)


def points(value: float) -> str:
    """A difference of fractions as percentage points with one decimal: 0.0312 -> "3.1"."""
    shown = (Decimal(repr(value)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return str(abs(shown)) if shown == 0 else str(shown)


def verdict(diff: Difference) -> str:
    """The difference in plain words, with what its interval allows one to say."""
    size = points(abs(diff.value))
    if size == "0.0":
        head = "Apologised-to customers stayed as often as the held-out group"
    else:
        more = "more" if diff.value > 0 else "less"
        head = f"Apologised-to customers stayed {size} points {more} often than the held-out group"
    span = f"(95% interval {signed(diff.low)} to {signed(diff.high)} points)"
    if diff.includes_zero:
        tail = "the interval includes 0, so no difference is shown at this size"
    elif diff.low > 0:
        tail = "the interval lies above 0, so the apology measurably kept customers"
    else:
        tail = "the interval lies below 0, so apologised-to customers measurably left more often"
    return f"{head} {span}; {tail}."


def signed(value: float) -> str:
    """Percentage points with their sign: 0.031 -> "+3.1", -0.01 -> "-1.0"."""
    text = points(value)
    return text if text.startswith("-") or text == "0.0" else f"+{text}"
