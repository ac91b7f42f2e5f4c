"""What one customer is owed for one incident under a policy. Pure: Decimal in,
integer minor units out, no I/O. The plan calls this once per impacted customer."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from makegood.core.errors import InvalidInputError
from makegood.core.money import Money
from makegood.policy.schema import Amount, Policy, Pricing, Rule

HUNDRED = Decimal(100)
MAX_MINOR = 2**63 - 1  # ledger amounts are BIGINTs of minor units


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    services: tuple[str, ...]
    severity: str
    cause: str | None
    duration_minutes: int


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    status: str
    country: str
    plan: str
    monthly_price_minor: int
    currency: str
    days_in_month: int  # of the customer's current local month


@dataclass(frozen=True, slots=True)
class History:
    """Credits the customer already has that limits and exclusions look at."""

    on_statement_minor: int = 0
    in_window_minor: int = 0
    compensated_overlapping: bool = False


@dataclass(frozen=True, slots=True)
class Offered:
    rule: str
    mode: str
    amount_minor: int
    claim_days: int | None
    capped: bool


@dataclass(frozen=True, slots=True)
class Excluded:
    reason: str


Decision = Offered | Excluded


def decide(
    policy: Policy,
    incident: IncidentFacts,
    customer: CustomerFacts,
    confidence: str,
    magnitude: int,
    history: History = History(),
) -> Decision:
    """First the exclusions, then the first matching rule, its amount, caps, minimum."""
    reason = _exclusion(policy, incident, customer, history)
    if reason:
        return Excluded(reason)
    rule = next(
        (r for r in policy.rules if _matches(r, incident, customer, confidence, magnitude)), None
    )
    if rule is None:
        return Excluded("no_matching_rule")
    raw = _amount(rule.amount, incident, customer, magnitude)
    if raw is None:
        return Excluded("no_amount_for_currency")
    where = f'rules[{policy.rules.index(rule) + 1}] ("{rule.name}").amount'
    amount = to_minor(raw, customer.currency, policy.limits.rounding_mode, where)
    capped_amount = _capped(policy, customer, history, amount)
    if capped_amount <= 0:
        return Excluded("cap_reached" if amount > 0 else "below_minimum")
    minimum = to_minor(policy.limits.minimum, customer.currency, ROUND_CEILING, "limits.minimum")
    if capped_amount < minimum:
        return Excluded("below_minimum")
    return Offered(rule.name, rule.mode, capped_amount, rule.claim_days, capped_amount < amount)


def to_minor(major: Decimal, currency: str, rounding: str, where: str = "amount") -> int:
    """Minor units; an amount no ledger entry holds (a BIGINT of minor units) is an
    error naming the policy key that gave it."""
    try:
        minor = Money.rounded(major, currency, rounding).minor
    except InvalidOperation:  # more digits than a Decimal holds: far too large as well
        minor = MAX_MINOR + 1
    if abs(minor) > MAX_MINOR:
        raise InvalidInputError(
            f"policy: {where}: comes to {major:.3E} {currency} for one customer, "
            "more than a credit can hold"
        )
    return minor


def _exclusion(
    policy: Policy, incident: IncidentFacts, customer: CustomerFacts, history: History
) -> str | None:
    ex = policy.exclusions
    if customer.status in ex.statuses:
        return f"status:{customer.status}"
    if customer.country in ex.countries:
        return f"country:{customer.country}"
    if customer.plan in ex.plans:
        return f"plan:{customer.plan}"
    if incident.cause is not None and incident.cause in ex.causes:
        return f"cause:{incident.cause}"
    if ex.compensated_within_days is not None and history.compensated_overlapping:
        return "already_compensated"
    return None


def _matches(
    rule: Rule, incident: IncidentFacts, customer: CustomerFacts, confidence: str, magnitude: int
) -> bool:
    checks = (
        rule.services is None or bool(set(rule.services) & set(incident.services)),
        rule.confidence is None or confidence in rule.confidence,
        rule.severity is None or incident.severity in rule.severity,
        rule.causes is None or (incident.cause or "none") in rule.causes,
        rule.min_duration_minutes is None or incident.duration_minutes >= rule.min_duration_minutes,
        rule.max_duration_minutes is None or incident.duration_minutes <= rule.max_duration_minutes,
        rule.min_magnitude is None or magnitude >= rule.min_magnitude,
        rule.max_magnitude is None or magnitude <= rule.max_magnitude,
        rule.statuses is None or customer.status in rule.statuses,
        rule.countries is None or customer.country in rule.countries,
        rule.plans is None or customer.plan in rule.plans,
    )
    return all(checks)


def _price(customer: CustomerFacts) -> Decimal:
    return Money(customer.monthly_price_minor, customer.currency).major


def _simple(p: Pricing, customer: CustomerFacts) -> Decimal | None:
    if p.percent_of_monthly_price is not None:
        return _price(customer) * p.percent_of_monthly_price / HUNDRED
    if p.days_of_service is not None:
        days = customer.days_in_month if p.days_basis == "calendar_month" else 30
        return _price(customer) * p.days_of_service / Decimal(days)
    table = p.fixed or {}
    return table.get(customer.currency, table.get("*"))


def _amount(
    amount: Amount, incident: IncidentFacts, customer: CustomerFacts, magnitude: int
) -> Decimal | None:
    if amount.per_day is not None:
        daily = _simple(amount.per_day, customer)
        if daily is None:
            return None
        total = daily * Decimal(magnitude)
        cap = _simple(amount.cap, customer) if amount.cap is not None else None
        return total if cap is None else min(total, cap)
    if amount.tiers is not None:
        value = Decimal(incident.duration_minutes if amount.by == "duration_minutes" else magnitude)
        reached = [t for t in amount.tiers if t.at_least <= value]
        return _simple(reached[-1], customer) if reached else Decimal(0)
    return _simple(amount, customer)


def _capped(policy: Policy, customer: CustomerFacts, history: History, amount: int) -> int:
    limits = policy.limits
    price = _price(customer)
    if limits.max_percent_per_statement is not None:
        room = (
            to_minor(
                price * limits.max_percent_per_statement / HUNDRED,
                customer.currency,
                ROUND_FLOOR,
                "limits.max_percent_per_statement",
            )
            - history.on_statement_minor
        )
        amount = min(amount, room)
    if limits.max_percent_per_window is not None:
        room = (
            to_minor(
                price * limits.max_percent_per_window / HUNDRED,
                customer.currency,
                ROUND_FLOOR,
                "limits.max_percent_per_window",
            )
            - history.in_window_minor
        )
        amount = min(amount, room)
    return max(amount, 0)
