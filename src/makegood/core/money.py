"""Money as integer minor units with an ISO 4217 currency. Never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from iso4217 import Currency


@cache
def currency_exponent(code: str) -> int:
    """Minor-unit exponent of an ISO 4217 currency (JPY 0, USD 2, BHD 3).

    Raises ValueError for codes that are not active ISO 4217 currencies or that
    have no minor unit defined (funds codes, precious metals).
    """
    if len(code) != 3 or not code.isalpha() or not code.isupper():
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (three capital letters)")
    try:
        exponent = Currency(code).exponent
    except ValueError:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code") from None
    if exponent is None:
        raise ValueError(f"{code!r} has no minor unit, so it cannot carry a price")
    return int(exponent)


def parse_decimal(text: str) -> Decimal:
    """Parse a plain decimal string ("8.99"); no exponents, no thousands separators."""
    stripped = text.strip()
    if not stripped or any(c not in "0123456789.-+" for c in stripped):
        raise ValueError(f"{text!r} is not a decimal number like 8.99")
    try:
        value = Decimal(stripped)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number like 8.99") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return value


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Exact conversion of a major-unit amount to minor units.

    More decimals than the currency has is an error (8.999 USD), not a rounding.
    """
    exponent = currency_exponent(currency)
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency} allows ({exponent})")
    return int(scaled)


def format_major(minor: int, currency: str) -> str:
    """Minor units back to a decimal string in major units: 899 USD -> '8.99'."""
    exponent = currency_exponent(currency)
    value = Decimal(minor).scaleb(-exponent)
    return f"{value:.{exponent}f}"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of one currency; mixing currencies is an error."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError("Money.minor must be an int of minor units")
        currency_exponent(self.currency)

    @classmethod
    def from_major(cls, amount: Decimal | str, currency: str) -> Money:
        value = parse_decimal(amount) if isinstance(amount, str) else amount
        return cls(to_minor_units(value, currency), currency)

    @classmethod
    def rounded(cls, amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Money:
        """Round a computed major-unit amount to the currency's minor unit."""
        exponent = currency_exponent(currency)
        quantum = Decimal(1).scaleb(-exponent)
        return cls(int(amount.quantize(quantum, rounding=rounding).scaleb(exponent)), currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    @property
    def major(self) -> Decimal:
        return Decimal(self.minor).scaleb(-currency_exponent(self.currency))

    @property
    def major_text(self) -> str:
        """The amount in major units as plain text with the currency's decimals ("8.99")."""
        return format_major(self.minor, self.currency)

    def __str__(self) -> str:
        return f"{format_major(self.minor, self.currency)} {self.currency}"
