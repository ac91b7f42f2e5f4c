"""The report's arithmetic: intervals against published values, medians, wording."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from makegood.reports.rules import Difference, fraction, median, newcombe, verdict, wilson


def test_wilson_matches_the_published_interval_for_81_of_263():
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion".
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998), "Interval estimation for the difference between independent
        # proportions", Table II, method 10 (hybrid score, no continuity correction).
        ((56, 70, 48, 80), (0.2, 0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.6, 0.1705, 0.8090)),
        ((5, 56, 0, 29), (0.0893, -0.0381, 0.1926)),
        ((0, 10, 0, 20), (0.0, -0.1611, 0.2775)),
    ],
)
def test_newcombe_matches_the_published_hybrid_score_intervals(counts, expected):
    d = newcombe(*counts)
    assert (round(d.value, 4), round(d.low, 4), round(d.high, 4)) == expected


def test_the_interval_stays_within_minus_one_and_one_at_the_extremes():
    d = newcombe(20, 20, 0, 20)
    assert d.value == 1 and 0 < d.low < 1 and d.high == pytest.approx(1)
    assert not d.includes_zero


def test_median_of_durations_takes_the_middle_or_the_mean_of_the_two_middle():
    minutes = [timedelta(minutes=m) for m in (10, 20, 30, 40)]
    assert median(minutes) == timedelta(minutes=25)
    assert median(minutes[:3]) == timedelta(minutes=20)
    assert median([]) is None


def test_fraction_rounds_half_up_and_refuses_an_empty_whole():
    assert fraction(1, 8) == Decimal("0.1250")
    assert fraction(1, 3) == Decimal("0.3333")
    assert fraction(2, 3) == Decimal("0.6667")
    assert fraction(1, 0) is None


def test_verdict_says_what_the_interval_allows():
    unclear = verdict(Difference(0.90, 0.87, -0.01, 0.074))
    assert unclear.startswith("Apologised-to customers stayed 3.0 points more often")
    assert "(95% interval -1.0 to +7.4 points)" in unclear
    assert unclear.endswith("the interval includes 0, so no difference is shown at this size.")
    kept = verdict(newcombe(56, 70, 48, 80))
    assert "20.0 points more often" in kept and "measurably kept customers" in kept
    lost = verdict(newcombe(48, 80, 56, 70))
    assert "20.0 points less often" in lost and "measurably left more often" in lost
    same = verdict(Difference(0.5, 0.5, -0.2, 0.2))
    assert same.startswith("Apologised-to customers stayed as often as the held-out group")
