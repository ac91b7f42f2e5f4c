"""Pure validation of one customer row. No I/O; every check names its column."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from zoneinfo import available_timezones

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email

from makegood.core.money import currency_exponent, parse_decimal, to_minor_units
from makegood.customers.models import STATUSES

COLUMNS = (
    "customer_id",
    "email",
    "first_name",
    "locale",
    "timezone",
    "country",
    "status",
    "plan",
    "monthly_price",
    "currency",
    "next_bill_date",
)
OPTIONAL = frozenset({"first_name", "plan"})
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class CustomerRow:
    customer_id: str
    email: str
    first_name: str
    locale: str
    timezone: str
    country: str
    status: str
    plan: str
    monthly_price_minor: int
    currency: str
    next_bill_date: date


class RowProblems(Exception):
    """All problems found in one row, as (column, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def _countries() -> frozenset[str]:
    return frozenset(str(code) for code in Locale("en").territories if _COUNTRY.match(str(code)))


@cache
def check_locale(tag: str) -> str:
    """A BCP 47 tag that CLDR knows (so apologies can be rendered in it)."""
    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", tag):
        raise ValueError(f"{tag!r} is not a BCP 47 language tag like en-US")
    try:
        Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError):
        raise ValueError(
            f"{tag!r} is not a locale makegood can write in (unknown to CLDR)"
        ) from None
    return tag


def check_timezone(zone: str) -> str:
    if zone not in _zones():
        raise ValueError(f"{zone!r} is not an IANA time zone like America/New_York")
    return zone


def check_country(code: str) -> str:
    if code not in _countries():
        raise ValueError(f"{code!r} is not an ISO 3166 alpha-2 country code like US")
    return code


# RFC 5322 dot-atom local part in plain ASCII: the common case, checked without the
# full validator; anything else (quoted, internationalised) takes the full path.
_ASCII_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


@cache
def _domain(domain: str) -> str:
    """The normalised domain, validated once per distinct domain."""
    return validate_email(f"postmaster@{domain}", check_deliverability=False).domain


def check_email(address: str) -> str:
    try:
        local, at, domain = address.rpartition("@")
        if at and len(local) <= 64 and _ASCII_LOCAL.match(local):
            return f"{local}@{_domain(domain)}"
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{address!r} is not a valid email address ({exc})") from None


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise ValueError(f"{status!r} is not a status; use one of {', '.join(STATUSES)}")
    return status


def check_date(text: str) -> date:
    if not _DATE.match(text):
        raise ValueError(f"{text!r} is not an ISO date like 2026-04-01")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a real calendar date") from None


def validate_row(raw: dict[str, str]) -> CustomerRow:
    """Validate every field of one row; raise RowProblems listing all that fail."""
    problems: list[tuple[str, str]] = []
    values = {name: (raw.get(name) or "").strip() for name in COLUMNS}

    def check(column: str, fn: object) -> object:
        value = values[column]
        if not value:
            if column not in OPTIONAL:
                problems.append((column, "is empty"))
            return value
        try:
            return fn(value)  # type: ignore[operator]
        except ValueError as exc:
            problems.append((column, str(exc)))
            return None

    email = check("email", check_email)
    locale = check("locale", check_locale)
    zone = check("timezone", check_timezone)
    country = check("country", check_country)
    status = check("status", check_status)
    currency = check("currency", lambda c: (currency_exponent(c), c)[1])
    bill_date = check("next_bill_date", check_date)
    price_minor = _price(values["monthly_price"], currency, problems)
    if not values["customer_id"]:
        problems.append(("customer_id", "is empty"))
    if problems:
        raise RowProblems(problems)
    return CustomerRow(
        customer_id=values["customer_id"],
        email=str(email),
        first_name=values["first_name"],
        locale=str(locale),
        timezone=str(zone),
        country=str(country),
        status=str(status),
        plan=values["plan"],
        monthly_price_minor=int(price_minor or 0),
        currency=str(currency),
        next_bill_date=bill_date,  # type: ignore[arg-type]
    )


def _price(text: str, currency: object, problems: list[tuple[str, str]]) -> int | None:
    if not text:
        problems.append(("monthly_price", "is empty"))
        return None
    try:
        amount = parse_decimal(text)
    except ValueError as exc:
        problems.append(("monthly_price", str(exc)))
        return None
    if amount < 0:
        problems.append(("monthly_price", f"{text!r} is negative"))
        return None
    if not isinstance(currency, str) or not currency:
        return None  # the currency column already carries the problem
    try:
        return to_minor_units(amount, currency)
    except ValueError as exc:
        problems.append(("monthly_price", str(exc)))
        return None
