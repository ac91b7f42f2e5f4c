"""The policy file (TOML): what a customer is owed for an incident, validated
strictly so a typo fails loudly with the key it is at."""

from __future__ import annotations

import hashlib
import tomllib
import types
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from makegood.core.errors import InvalidInputError
from makegood.core.money import currency_exponent, parse_decimal

# The most characters a policy's or a rule's name may have: what a campaign's
# policy_name and an offer's rule hold (tests/unit/test_policy.py keeps them equal).
NAME_MAX = 200
# The longest look back a policy may ask for (credit history, earlier incidents): a
# hundred years, well within the calendar.
MAX_DAYS = 36_500
ROUNDING = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "half_down": ROUND_HALF_DOWN,
    "up": ROUND_UP,
    "down": ROUND_DOWN,
    "ceiling": ROUND_CEILING,
    "floor": ROUND_FLOOR,
}


def _decimal(value: object) -> Decimal:
    """Amounts are written as strings ("5.00") or integers; a float is refused."""
    if isinstance(value, bool | float):
        raise ValueError('write amounts as strings like "5.00" (a float cannot hold cents exactly)')
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return parse_decimal(value)
    if isinstance(value, Decimal):
        return value
    raise ValueError('must be a decimal string like "5.00"')


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pricing(Strict):
    """The simple ways of pricing: a percent of the monthly price, a fixed amount per
    currency ("*" when one amount is written for every currency), or days of service."""

    percent_of_monthly_price: Decimal | None = None
    fixed: dict[str, Decimal] | None = None
    days_of_service: Decimal | None = None
    days_basis: Literal["calendar_month", "30"] = "calendar_month"

    @field_validator("percent_of_monthly_price", "days_of_service", mode="before")
    @classmethod
    def _number(cls, value: object) -> Decimal | None:
        if value is None:
            return None
        number = _decimal(value)
        if number < 0:
            raise ValueError("must not be negative")
        return number

    @field_validator("fixed", mode="before")
    @classmethod
    def _fixed(cls, value: object) -> dict[str, Decimal] | None:
        if value is None:
            return None
        if isinstance(value, str | int) and not isinstance(value, bool):
            return {"*": _decimal(value)}
        if not isinstance(value, dict):
            raise ValueError('must be a table like { USD = "5.00", JPY = "700" }')
        table: dict[str, Decimal] = {}
        for code, amount in value.items():
            exponent = currency_exponent(code)
            number = _decimal(amount)
            if number < 0:
                raise ValueError(f"{code}: must not be negative")
            if number != number.quantize(Decimal(1).scaleb(-exponent)):
                raise ValueError(
                    f"{code}: {amount} has more decimals than {code} allows ({exponent})"
                )
            table[code] = number
        return table


class Simple(Pricing):
    """Exactly one simple way of pricing."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Simple:
        chosen = [
            k
            for k in ("percent_of_monthly_price", "fixed", "days_of_service")
            if getattr(self, k) is not None
        ]
        if len(chosen) != 1:
            raise ValueError(
                "give exactly one of percent_of_monthly_price, fixed, days_of_service"
                + (f" (found {', '.join(chosen)})" if chosen else "")
            )
        return self


class Tier(Simple):
    at_least: Decimal = Decimal(0)

    @field_validator("at_least", mode="before")
    @classmethod
    def _bound(cls, value: object) -> Decimal:
        return _decimal(value)


class Amount(Pricing):
    """A simple amount, or per-day accrual on the magnitude with a cap, or tiers."""

    per_day: Simple | None = None
    cap: Simple | None = None
    tiers: list[Tier] | None = None
    by: Literal["duration_minutes", "magnitude"] = "duration_minutes"

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: object) -> object:
        if not isinstance(data, dict):
            raise ValueError('amount must be a table, e.g. { percent_of_monthly_price = "5" }')
        kinds = [
            k
            for k in ("percent_of_monthly_price", "fixed", "days_of_service", "per_day", "tiers")
            if k in data
        ]
        if len(kinds) != 1:
            raise ValueError(
                "give exactly one of percent_of_monthly_price, fixed, days_of_service, per_day, "
                "tiers" + (f" (found {', '.join(kinds)})" if kinds else "")
            )
        if "cap" in data and kinds != ["per_day"]:
            raise ValueError("cap goes with per_day")
        return data

    @model_validator(mode="after")
    def _tiers_ordered(self) -> Amount:
        if self.tiers is not None:
            bounds = [t.at_least for t in self.tiers]
            if not bounds or bounds != sorted(set(bounds)):
                raise ValueError("tiers need increasing, distinct at_least values")
        return self

    def simple(self) -> Simple | None:
        """The amount as a Simple when it is one (not per_day, not tiers)."""
        if self.per_day is not None or self.tiers is not None:
            return None
        return Simple(
            percent_of_monthly_price=self.percent_of_monthly_price,
            fixed=self.fixed,
            days_of_service=self.days_of_service,
            days_basis=self.days_basis,
        )


class Rule(Strict):
    name: str = Field(max_length=NAME_MAX)
    services: list[str] | None = None
    confidence: list[Literal["confirmed", "possible"]] | None = None
    severity: list[Literal["minor", "major", "critical"]] | None = None
    causes: list[str] | None = None
    min_duration_minutes: int | None = None
    max_duration_minutes: int | None = None
    min_magnitude: int | None = None
    max_magnitude: int | None = None
    statuses: list[Literal["active", "paused", "cancelled"]] | None = None
    countries: list[str] | None = None
    plans: list[str] | None = None
    amount: Amount
    mode: Literal["automatic", "claim"]
    claim_days: int | None = Field(default=None, ge=1, le=365)

    @model_validator(mode="after")
    def _claim_window(self) -> Rule:
        if self.mode == "claim" and self.claim_days is None:
            raise ValueError("a claim rule needs claim_days (how long the link stays valid)")
        if self.mode == "automatic" and self.claim_days is not None:
            raise ValueError('claim_days only applies to mode = "claim"')
        return self


class Exclusions(Strict):
    statuses: list[Literal["active", "paused", "cancelled"]] = []
    countries: list[str] = []
    plans: list[str] = []
    causes: list[str] = []
    compensated_within_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)


class Limits(Strict):
    minimum: Decimal = Decimal("0.01")
    rounding: Literal["half_up", "half_even", "half_down", "up", "down", "ceiling", "floor"] = (
        "half_up"
    )
    max_percent_per_statement: Decimal | None = None
    window_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    max_percent_per_window: Decimal | None = None
    budget: dict[str, Decimal] = {}

    @field_validator(
        "minimum", "max_percent_per_statement", "max_percent_per_window", mode="before"
    )
    @classmethod
    def _number(cls, value: object) -> Decimal | None:
        return None if value is None else _decimal(value)

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, value: object) -> dict[str, Decimal]:
        if not isinstance(value, dict):
            raise ValueError('must be a table like { USD = "10000.00" }')
        for code in value:
            currency_exponent(code)
        return {code: _decimal(amount) for code, amount in value.items()}

    @model_validator(mode="after")
    def _window(self) -> Limits:
        if (self.window_days is None) != (self.max_percent_per_window is None):
            raise ValueError("window_days and max_percent_per_window go together")
        return self

    @property
    def rounding_mode(self) -> str:
        return ROUNDING[self.rounding]


class SmsLimits(Strict):
    """How long a text message may be, in segments (parts of 160 GSM-7 or 70 UCS-2
    characters, 153 or 67 once there are several): checked at plan time for every
    locale and kind the campaign texts."""

    max_segments: int = Field(default=3, ge=1, le=10)


class Corrections(Strict):
    """What a follow-up campaign (after an incident is amended) does for customers
    who had an offer but are no longer owed one (no longer affected, or now excluded):
    keep it (never take back what was given), close_unclaimed (open claim links
    close with a polite page; credits given stay), or reverse (open links close and
    given credits are reversed on the ledger and pushed to billing). ``notify``: a
    short letter tells each customer whose link closed or credit was reversed."""

    mode: Literal["keep", "close_unclaimed", "reverse"] = "keep"
    notify: bool = False


class Policy(Strict):
    name: str = Field(max_length=NAME_MAX)
    version: int = Field(default=1, ge=1, le=2**31 - 1)  # a campaign keeps it in an INTEGER
    rules: list[Rule] = Field(min_length=1)
    exclusions: Exclusions = Exclusions()
    limits: Limits = Limits()
    sms: SmsLimits = SmsLimits()
    corrections: Corrections = Corrections()
    source: str = ""

    @property
    def digest(self) -> str:
        """Identifies this exact policy text: a campaign records what it was planned with."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; errors name the file and the key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror})") from None
    return parse_policy(text, str(path))


def parse_policy(text: str, where: str = "policy") -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{where}: not valid TOML ({exc})") from None
    except RecursionError:  # tomllib recurses once per level of nested arrays or tables
        raise InvalidInputError(
            f"{where}: not a policy: its arrays or tables are nested too deeply to read"
        ) from None
    unknown = _unknown_keys(Policy, data, ())
    problems = [
        f"{_key(loc, data)}: unknown key {key!r}"
        + (f" (did you mean {guess[0]!r}?)" if guess else "")
        for loc, key, guess in unknown
    ]
    # A table with an unknown key also fails as a whole ("give exactly one of ...");
    # the unknown key says why, so that complaint is left out.
    tables = {loc for loc, _, _ in unknown}
    try:
        policy = Policy.model_validate({**data, "source": text})
    except ValidationError as exc:
        problems += [
            f"{_key(e['loc'], data)}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
            if e["type"] != "extra_forbidden" and tuple(e["loc"]) not in tables
        ]
    if problems:
        raise InvalidInputError(f"{where}: the policy is not valid", problems)
    return policy


Place = tuple[int | str, ...]


def _unknown_keys(
    model: type[BaseModel], data: object, loc: Place
) -> list[tuple[Place, str, list[str]]]:
    """Every key of the file that no model knows, with its place and the known keys
    there it most resembles."""
    if not isinstance(data, dict):
        return []
    # `source` is the file's own text, filled in by makegood, not a key to write.
    known = [name for name in model.model_fields if not (model is Policy and name == "source")]
    found: list[tuple[Place, str, list[str]]] = []
    for key, value in data.items():
        if key not in known:
            found.append((loc, str(key), get_close_matches(str(key), known, n=1)))
            continue
        for inner, item, place in _tables(model.model_fields[key].annotation, value, (*loc, key)):
            found += _unknown_keys(inner, item, place)
    return found


def _tables(
    annotation: Any, value: object, loc: Place
) -> list[tuple[type[BaseModel], object, Place]]:
    """The tables inside a value that a model describes: the value itself, or the
    items of a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, value, loc)]
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _tables(arg, value, loc)][:1]
    if origin is list and isinstance(value, list):
        (item_type,) = get_args(annotation)
        return [t for i, item in enumerate(value) for t in _tables(item_type, item, (*loc, i))]
    return []


def _key(loc: tuple[object, ...], data: dict[str, object]) -> str:
    """rules.0.amount -> rules[1] ("late shipment").amount"""
    parts: list[str] = []
    node: object = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item + 1}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                name = node[item].get("name")
                label += f' ("{name}")' if name else ""
            parts.append(label)
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"
