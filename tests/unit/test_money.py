from decimal import Decimal

import pytest

from makegood.core.money import (
    Money,
    currency_exponent,
    format_major,
    parse_decimal,
    to_minor_units,
)


@pytest.mark.parametrize(("code", "exponent"), [("JPY", 0), ("USD", 2), ("EUR", 2), ("BHD", 3)])
def test_currency_exponent_follows_iso_4217(code, exponent):
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize("code", ["usd", "US", "ZZZ", "XAU", "12A"])
def test_unknown_or_unitless_currency_is_rejected(code):
    with pytest.raises(ValueError, match=code):
        currency_exponent(code)


def test_major_units_convert_exactly_to_minor_units():
    assert to_minor_units(Decimal("8.99"), "USD") == 899
    assert to_minor_units(Decimal("1200"), "JPY") == 1200
    assert to_minor_units(Decimal("2.500"), "BHD") == 2500
    assert format_major(899, "USD") == "8.99"
    assert format_major(2500, "BHD") == "2.500"
    assert format_major(700, "JPY") == "700"


def test_more_decimals_than_the_currency_allows_is_an_error_not_a_rounding():
    with pytest.raises(ValueError, match="more decimals than USD"):
        to_minor_units(Decimal("8.999"), "USD")
    with pytest.raises(ValueError, match="JPY"):
        to_minor_units(Decimal("1.5"), "JPY")


@pytest.mark.parametrize("text", ["", "abc", "1e3", "1,000.00", "NaN", "Infinity"])
def test_only_plain_decimals_parse(text):
    with pytest.raises(ValueError, match="number"):
        parse_decimal(text)


def test_money_adds_within_one_currency_and_refuses_to_mix():
    total = Money.from_major("8.99", "USD") + Money.from_major("0.01", "USD")
    assert total == Money(900, "USD")
    assert str(total) == "9.00 USD"
    with pytest.raises(ValueError, match="cannot combine USD with EUR"):
        _ = total + Money(1, "EUR")


def test_money_never_takes_a_float():
    with pytest.raises(TypeError):
        Money(8.99, "USD")  # type: ignore[arg-type]


def test_rounding_is_half_up_to_the_minor_unit():
    assert Money.rounded(Decimal("0.4495"), "USD").minor == 45
    assert Money.rounded(Decimal("0.445"), "USD").minor == 45
    assert Money.rounded(Decimal("0.444"), "USD").minor == 44
    assert Money.rounded(Decimal("349.5"), "JPY").minor == 350
