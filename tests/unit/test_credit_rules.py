from datetime import UTC, date, datetime

import pytest

from makegood.core.errors import ConfigurationError
from makegood.core.tokens import hash_token, new_token, seal, unseal
from makegood.credits.rules import add_months, days_in_month, statement_date


def test_a_future_bill_date_is_the_statement():
    assert statement_date(date(2026, 3, 20), datetime(2026, 3, 10, tzinfo=UTC), "UTC") == date(
        2026, 3, 20
    )


def test_the_bill_date_itself_counts_as_on_or_after():
    assert statement_date(date(2026, 3, 10), datetime(2026, 3, 10, 23, tzinfo=UTC), "UTC") == date(
        2026, 3, 10
    )


def test_local_date_decides_near_midnight():
    # 02:00 UTC on 11 March is still 10 March in New York: the 10 March bill counts.
    moment = datetime(2026, 3, 11, 2, tzinfo=UTC)
    assert statement_date(date(2026, 3, 10), moment, "America/New_York") == date(2026, 3, 10)
    assert statement_date(date(2026, 3, 10), moment, "Asia/Tokyo") == date(2026, 4, 10)


def test_a_stale_bill_date_rolls_forward_by_months_keeping_its_day():
    assert statement_date(date(2026, 1, 31), datetime(2026, 3, 5, tzinfo=UTC), "UTC") == date(
        2026, 3, 31
    )
    assert statement_date(date(2026, 1, 31), datetime(2026, 2, 5, tzinfo=UTC), "UTC") == date(
        2026, 2, 28
    )
    assert statement_date(date(2025, 12, 15), datetime(2026, 3, 16, tzinfo=UTC), "UTC") == date(
        2026, 4, 15
    )


def test_add_months_clamps_and_crosses_years():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


def test_days_in_month_uses_the_local_month():
    assert days_in_month(datetime(2026, 3, 1, 2, tzinfo=UTC), "America/New_York") == 28
    assert days_in_month(datetime(2026, 3, 1, 2, tzinfo=UTC), "UTC") == 31


def test_tokens_are_256_bits_and_only_their_hash_is_kept():
    token = new_token()
    assert len(token) >= 43 and token != new_token()
    assert hash_token(token) == hash_token(token) and token not in hash_token(token)


def test_sealed_tokens_open_only_with_the_same_key():
    sealed = seal("tok", "a" * 32)
    assert "tok" not in sealed
    assert unseal(sealed, "a" * 32) == "tok"
    with pytest.raises(ConfigurationError, match="cannot be opened"):
        unseal(sealed, "b" * 32)
    with pytest.raises(ConfigurationError, match="MAKEGOOD_SECRET_KEY must be set"):
        seal("tok", "")
