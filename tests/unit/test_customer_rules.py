import pytest

from makegood.customers.rules import RowProblems, validate_row
from tests.support.files import customer

GOOD = customer("c1", email="ann@example.com")


def problems(**changes: str) -> dict[str, str]:
    with pytest.raises(RowProblems) as caught:
        validate_row({**GOOD, **changes})
    return dict(caught.value.problems)


def test_a_good_row_becomes_minor_units():
    row = validate_row(GOOD)
    assert row.monthly_price_minor == 899
    assert row.next_bill_date.isoformat() == "2026-04-01"


def test_three_decimal_currency_keeps_its_mils():
    assert (
        validate_row({**GOOD, "currency": "BHD", "monthly_price": "2.500"}).monthly_price_minor
        == 2500
    )


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("email", "ann.example.com", "not a valid email"),
        ("locale", "english", "BCP 47"),
        ("locale", "xx-YY", "unknown to CLDR"),
        ("timezone", "EST5", "IANA time zone"),
        ("timezone", "Europe/Atlantis", "IANA time zone"),
        ("country", "USA", "ISO 3166"),
        ("status", "deleted", "active, paused, cancelled"),
        ("monthly_price", "-1.00", "negative"),
        ("monthly_price", "8,99", "decimal number"),
        ("monthly_price", "8.999", "more decimals than USD"),
        ("currency", "DOLLAR", "ISO 4217"),
        ("next_bill_date", "04/01/2026", "ISO date"),
        ("next_bill_date", "2026-02-30", "real calendar date"),
        ("customer_id", "", "is empty"),
    ],
)
def test_each_bad_field_is_named_with_the_reason(column, value, says):
    found = problems(**{column: value})
    assert column in found
    assert says in found[column]


def test_every_problem_in_a_row_is_reported_at_once():
    found = problems(email="x", timezone="Mars/Base", status="gone")
    assert set(found) == {"email", "timezone", "status"}


def test_first_name_and_plan_may_be_empty():
    row = validate_row({**GOOD, "first_name": "", "plan": ""})
    assert (row.first_name, row.plan) == ("", "")


@pytest.mark.parametrize(
    "address",
    ["ann@example.com", "Ann.B+tag@Example.COM", "o'neil@shop.example.co.uk", "x_y-z@a-b.example"],
)
def test_fast_email_path_agrees_with_the_full_validator(address):
    from email_validator import validate_email

    from makegood.customers.rules import check_email

    assert check_email(address) == validate_email(address, check_deliverability=False).normalized


@pytest.mark.parametrize(
    "address",
    ["ann@@example.com", ".ann@example.com", "ann.@example.com", "ann@-x.com", "a@localhost"],
)
def test_fast_email_path_still_rejects_bad_addresses(address):
    from makegood.customers.rules import check_email

    with pytest.raises(ValueError, match="not a valid email"):
        check_email(address)
