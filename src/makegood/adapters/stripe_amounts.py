"""Ledger amounts (ISO 4217 minor units) as Stripe's API takes them.

Stripe's currency rules (docs.stripe.com/currencies), which are not ISO 4217's:

- zero-decimal currencies take whole units: BIF, CLP, DJF, GNF, JPY, KMF, KRW, MGA,
  PYG, RWF, UGX, VND, VUV, XAF, XOF, XPF (MGA has two decimals in ISO 4217: its
  fractions cannot be sent);
- three-decimal currencies (BHD, JOD, KWD, OMR, TND) take thousandths, but only in
  steps of ten: 5.124 KWD goes as 5.120 or 5.130;
- ISK stays two-decimal in the API but only whole krónur are accepted (amounts
  divisible by 100), while ISO 4217 gives it no decimals at all;
- every other currency is two-decimal in the API.

What cannot be sent exactly is rounded half away from zero (a credit's half unit goes
to the customer) and the difference is returned, to be kept with the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from makegood.core.money import currency_exponent

ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
WHOLE_UNITS_IN_CENTS = frozenset({"ISK"})


class UnsupportedCurrency(ValueError):
    """A currency whose amounts Stripe's API has no representation for here."""


@dataclass(frozen=True)
class StripeAmount:
    amount: int  # in Stripe's units for the currency
    currency: str  # lowercase, as Stripe wants it
    ledger_minor: int  # the same amount in the ledger's minor units
    rounding_minor: int  # ledger_minor minus the amount asked for


def _places(code: str) -> tuple[int, int]:
    """(decimal places in Stripe's API, the step amounts must be in) for a currency."""
    exponent = currency_exponent(code)
    if code in ZERO_DECIMAL:
        return 0, 1
    if code in THREE_DECIMAL:
        return 3, 10
    if code in WHOLE_UNITS_IN_CENTS:
        return 2, 100
    if exponent <= 2:
        return 2, 1
    raise UnsupportedCurrency(
        f"{code} has {exponent} decimals, and Stripe takes it with 2 or not at all"
    )


def from_stripe(amount: int, currency: str) -> int:
    """A Stripe amount in the ledger's minor units (rounded half away from zero)."""
    code = currency.upper()
    places, _ = _places(code)
    back = Decimal(amount).scaleb(currency_exponent(code) - places)
    return int(back.to_integral_value(rounding=ROUND_HALF_UP))


def to_stripe(amount_minor: int, currency: str) -> StripeAmount:
    """The Stripe amount nearest ``amount_minor`` of ``currency`` that Stripe accepts."""
    code = currency.upper()
    exponent = currency_exponent(code)
    places, step = _places(code)
    exact = Decimal(amount_minor).scaleb(places - exponent)
    steps = (exact / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    amount = int(steps * step)
    ledger = from_stripe(amount, code)
    return StripeAmount(amount, code.lower(), ledger, ledger - amount_minor)
