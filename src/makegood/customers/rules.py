"""Pure validation of one customer row. No I/O; every check names its column.

Text lengths come from the ``customers`` table's own column types, so a value that
fits here fits the database, SQLite or PostgreSQL alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email

from makegood.core.money import currency_exponent, parse_decimal, to_minor_units
from makegood.customers.models import STATUSES, Customer
from makegood.db.lengths import length_problem, max_length

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
    "billing_id",
    "phone",
    "channel",
)
OPTIONAL = frozenset({"first_name", "plan", "billing_id", "phone", "channel"})
CHANNELS = ("email", "sms")
# The most characters each text column holds: the customers table's String(n).
LIMITS: dict[str, int] = {
    name: limit
    for name in COLUMNS
    if hasattr(Customer, name) and (limit := max_length(getattr(Customer, name))) is not None
}
# monthly_price_minor is a BIGINT: 64 bits, signed.
MAX_MINOR = 2**63 - 1
# How much of a bad value a message repeats: enough to find it, never a whole field.
SHOWN = 40
_COUNTRY = re.compile(r"^[A-Z]{2}$")
# ISO 3166-1 sets aside AA, QM-QZ, XA-XZ and ZZ for users' own meanings (CLDR's XA and
# XB are pseudo-locales, XK is Kosovo, ZZ "unknown"); none is a country code.
_USER_ASSIGNED = re.compile(r"^(AA|Q[M-Z]|X[A-Z]|ZZ)$")
# CLDR's other two-letter territories that ISO 3166-1 does not assign: groupings
# (EU, EZ, UN) and codes reserved for places that are parts of countries.
_NOT_COUNTRIES = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "TA", "UN"})
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
    billing_id: str | None = None
    phone: str | None = None  # E.164
    channel: str | None = None  # "email", "sms" or "email,sms"; None: as before (email)


class RowProblems(Exception):
    """All problems found in one row, as (column, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def countries() -> frozenset[str]:
    """The ISO 3166-1 alpha-2 codes, from Babel's CLDR territories (numeric regions
    like 001, groupings and user-assigned codes left out)."""
    return frozenset(
        code
        for code in map(str, Locale("en").territories)
        if _COUNTRY.match(code) and not _USER_ASSIGNED.match(code) and code not in _NOT_COUNTRIES
    )


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
    if code not in countries():
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code like US")
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


def check_billing_id(text: str) -> str:
    """An id in the billing system (Stripe's cus_...): printable, no spaces."""
    if not text.isprintable() or any(c.isspace() for c in text):
        raise ValueError(
            f"{text[:SHOWN]!r} is not a billing id; it holds spaces or control characters"
        )
    return text


def check_phone(text: str) -> str:
    """A phone number in E.164 form (+ and the country code), which phonenumbers
    knows to be a valid number; returned in E.164 without spaces."""
    import phonenumbers

    if not text.startswith("+"):
        raise ValueError(f"{text[:SHOWN]!r} is not in E.164 form like +14155550123")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{text[:SHOWN]!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{text[:SHOWN]!r} is not a valid number in any numbering plan")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_channel(text: str) -> str:
    """One or more of email and sms, comma-separated; returned in a fixed order."""
    named = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(named - set(CHANNELS))
    if unknown or not named:
        raise ValueError(f"{text[:SHOWN]!r} is not email, sms or email,sms")
    return ",".join(c for c in CHANNELS if c in named)


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


def usable_id(text: str) -> str | None:
    """A row's customer id when it could be stored, whatever else is wrong with the row."""
    value = text.strip()
    fits = "\x00" not in value and length_problem(value, LIMITS["customer_id"]) is None
    return value if value and fits else None


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
        if "\x00" in value:  # PostgreSQL text cannot hold it; SQLite would, alone
            problems.append((column, "contains a NUL character"))
            return None
        limit = LIMITS.get(column)
        too_long = length_problem(value, limit)
        # A code a little too long ("USA") is better told by its own check; free text,
        # and anything far too long to repeat in a message, by its length.
        if too_long is not None and (fn is str or len(value) > 2 * SHOWN):
            problems.append((column, too_long))
            return None
        try:
            checked = fn(value)  # type: ignore[operator]
        except ValueError as exc:
            problems.append((column, str(exc)))
            return None
        too_long = length_problem(checked, limit) if isinstance(checked, str) else None
        if too_long is not None:
            problems.append((column, too_long))
            return None
        return checked

    got = {column: check(column, fn) for column, fn in _CHECKS.items()}
    price_minor = _price(values["monthly_price"], got["currency"], problems)
    if "sms" in str(got["channel"] or "").split(",") and not values["phone"]:
        problems.append(("phone", "is empty, and channel says sms"))
    if problems:
        raise RowProblems(problems)
    fields: dict[str, Any] = {
        c: _or_none(got[c]) if c in _MAYBE else str(got[c])
        for c in _CHECKS
        if c != "next_bill_date"
    }
    fields["next_bill_date"] = got["next_bill_date"]
    return CustomerRow(**fields, monthly_price_minor=int(price_minor or 0))


_MAYBE = ("billing_id", "phone", "channel")  # None when not given
# Each column's check, in the order problems are listed.
_CHECKS: dict[str, object] = {
    "email": check_email,
    "locale": check_locale,
    "timezone": check_timezone,
    "country": check_country,
    "status": check_status,
    "currency": lambda c: (currency_exponent(c), c)[1],
    "next_bill_date": check_date,
    "customer_id": str,
    "first_name": str,
    "plan": str,
    "billing_id": check_billing_id,
    "phone": check_phone,
    "channel": check_channel,
}


def _or_none(value: object) -> str | None:
    return str(value) if value else None


def _price(text: str, currency: object, problems: list[tuple[str, str]]) -> int | None:
    if not text:
        problems.append(("monthly_price", "is empty"))
        return None
    try:
        amount = parse_decimal(text)
    except ValueError as exc:
        shown = str(exc) if len(text) <= SHOWN else "is not a decimal number like 8.99"
        problems.append(("monthly_price", shown))
        return None
    if amount < 0:
        problems.append(("monthly_price", f"{text!r} is negative"))
        return None
    if amount.adjusted() >= 19:  # more digits than any BIGINT holds, whatever the currency
        problems.append(("monthly_price", "is too large"))
        return None
    if not isinstance(currency, str) or not currency:
        return None  # the currency column already carries the problem
    try:
        minor = to_minor_units(amount, currency)
    except ValueError as exc:
        problems.append(("monthly_price", str(exc)))
        return None
    if minor > MAX_MINOR:
        problems.append(("monthly_price", f"{text!r} is too large"))
        return None
    return minor
