"""The customers file's optional billing_id column."""

from __future__ import annotations

import pytest

from makegood.customers.rules import RowProblems, validate_row

ROW = {
    "customer_id": "c1",
    "email": "ann@example.com",
    "first_name": "Ann",
    "locale": "en-US",
    "timezone": "America/New_York",
    "country": "US",
    "status": "active",
    "plan": "standard",
    "monthly_price": "15.49",
    "currency": "USD",
    "next_bill_date": "2026-04-01",
}


def test_billing_id_is_optional_and_kept_when_given():
    assert validate_row(ROW).billing_id is None
    assert validate_row({**ROW, "billing_id": " cus_Q1w2E3 "}).billing_id == "cus_Q1w2E3"


@pytest.mark.parametrize("bad", ["cus 1", "cus\t1", "cus\x001"])
def test_a_billing_id_with_spaces_or_control_characters_is_named(bad):
    with pytest.raises(RowProblems) as refused:
        validate_row({**ROW, "billing_id": bad})
    [(column, message)] = refused.value.problems
    # A NUL is refused in every text column before the column's own check.
    said = "contains a NUL character" if "\x00" in bad else "is not a billing id"
    assert column == "billing_id" and said in message


def test_a_billing_id_longer_than_the_column_is_refused_by_length():
    with pytest.raises(RowProblems) as refused:
        validate_row({**ROW, "billing_id": "c" * 201})
    assert refused.value.problems[0][0] == "billing_id"
