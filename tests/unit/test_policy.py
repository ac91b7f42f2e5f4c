"""The policy file and what it decides for one customer."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from makegood.core.errors import InvalidInputError
from makegood.policy.rules import CustomerFacts, Excluded, History, IncidentFacts, Offered, decide
from makegood.policy.schema import parse_policy
from makegood.policy.seed import seed_policy_text

SEED = seed_policy_text()
SHIPPING = IncidentFacts(("shipping",), "major", None, 960)
STREAMING = IncidentFacts(("streaming",), "major", None, 180)


def customer(price: int = 899, currency: str = "USD", **changes: object) -> CustomerFacts:
    fields = {
        "status": "active",
        "country": "US",
        "plan": "basic",
        "monthly_price_minor": price,
        "currency": currency,
        "days_in_month": 31,
    }
    fields.update(changes)
    return CustomerFacts(**fields)  # type: ignore[arg-type]


def policy(extra: str = "", rules: str | None = None):
    return parse_policy(rules if rules is not None else SEED + extra)


def test_seed_policy_gives_five_percent_automatic_for_late_shipments():
    decision = decide(policy(), SHIPPING, customer(1549), "confirmed", 2)
    assert decision == Offered("late shipment", "automatic", 77, None, False)  # 77.45 cents


def test_seed_policy_gives_two_percent_claimable_for_streaming():
    decision = decide(policy(), STREAMING, customer(1549), "possible", 120)
    assert decision == Offered("streaming trouble", "claim", 31, 7, False)  # 30.98 cents


def test_cancelled_customers_are_excluded_with_the_reason():
    assert decide(policy(), SHIPPING, customer(status="cancelled"), "confirmed", 1) == Excluded(
        "status:cancelled"
    )


def test_no_matching_rule_is_a_reason_too():
    assert decide(policy(), SHIPPING, customer(), "possible", 1) == Excluded("no_matching_rule")


@pytest.mark.parametrize(
    ("price", "currency", "expected"),
    [(899, "USD", 45), (1200, "JPY", 60), (2500, "BHD", 125), (1, "USD", 0)],
)
def test_percent_rounds_half_up_to_each_currencys_minor_unit(price, currency, expected):
    decision = decide(policy(), SHIPPING, customer(price, currency), "confirmed", 1)
    if expected == 0:
        assert decision == Excluded("below_minimum")
    else:
        assert isinstance(decision, Offered) and decision.amount_minor == expected


def test_fixed_amounts_come_from_the_currency_table_or_no_offer():
    rules = """
name = "fixed"
[[rules]]
name = "sorry"
amount = { fixed = { USD = "5.00", EUR = "5.00", JPY = "700" } }
mode = "automatic"
"""
    p = policy(rules=rules)
    assert decide(p, SHIPPING, customer(currency="JPY"), "confirmed", 1).amount_minor == 700  # type: ignore[union-attr]
    assert decide(p, SHIPPING, customer(currency="USD"), "confirmed", 1).amount_minor == 500  # type: ignore[union-attr]
    assert decide(p, SHIPPING, customer(currency="GBP"), "confirmed", 1) == Excluded(
        "no_amount_for_currency"
    )


@pytest.mark.parametrize(
    ("basis", "days", "expected"), [("calendar_month", 28, 54), ("30", 28, 50)]
)
def test_days_of_service_divides_by_the_month_or_by_thirty(basis, days, expected):
    rules = f"""
name = "days"
[[rules]]
name = "a day"
amount = {{ days_of_service = 1, days_basis = "{basis}" }}
mode = "automatic"
"""
    decision = decide(
        policy(rules=rules), SHIPPING, customer(1500, days_in_month=days), "confirmed", 1
    )
    assert isinstance(decision, Offered) and decision.amount_minor == expected


def test_per_day_accrues_on_magnitude_up_to_its_cap():
    rules = """
name = "per day"
[[rules]]
name = "late"
amount = { per_day = { fixed = { USD = "0.50" } }, cap = { percent_of_monthly_price = "10" } }
mode = "automatic"
"""
    p = policy(rules=rules)
    assert decide(p, SHIPPING, customer(2000), "confirmed", 3).amount_minor == 150  # type: ignore[union-attr]
    assert decide(p, SHIPPING, customer(2000), "confirmed", 9).amount_minor == 200  # type: ignore[union-attr]


def test_tiers_pick_the_highest_reached_like_an_sla_table():
    rules = """
name = "sla"
[[rules]]
name = "tiers"
amount = { by = "duration_minutes", tiers = [
  { at_least = 60, percent_of_monthly_price = "10" },
  { at_least = 240, percent_of_monthly_price = "25" },
  { at_least = 720, percent_of_monthly_price = "50" } ] }
mode = "automatic"
"""
    p = policy(rules=rules)
    short = IncidentFacts(("streaming",), "major", None, 30)
    assert decide(p, short, customer(1000), "confirmed", 1) == Excluded("below_minimum")
    assert decide(p, STREAMING, customer(1000), "confirmed", 1).amount_minor == 100  # type: ignore[union-attr]
    assert decide(p, SHIPPING, customer(1000), "confirmed", 1).amount_minor == 500  # type: ignore[union-attr]


def test_statement_and_window_caps_count_existing_credits():
    p = policy('max_percent_per_statement = "6"\nwindow_days = 30\nmax_percent_per_window = "8"\n')
    c = customer(1000)
    assert decide(p, SHIPPING, c, "confirmed", 1, History(on_statement_minor=30)) == Offered(
        "late shipment", "automatic", 30, None, True
    )
    assert decide(p, SHIPPING, c, "confirmed", 1, History(in_window_minor=75)) == Offered(
        "late shipment", "automatic", 5, None, True
    )
    assert decide(p, SHIPPING, c, "confirmed", 1, History(on_statement_minor=60)) == Excluded(
        "cap_reached"
    )


def test_other_rounding_modes():
    down = policy(rules=SEED.replace('rounding = "half_up"', 'rounding = "down"'))
    even = policy(rules=SEED.replace('rounding = "half_up"', 'rounding = "half_even"'))
    assert decide(down, SHIPPING, customer(1549), "confirmed", 1).amount_minor == 77  # type: ignore[union-attr]
    assert decide(down, SHIPPING, customer(1599), "confirmed", 1).amount_minor == 79  # type: ignore[union-attr]
    assert decide(even, SHIPPING, customer(1650), "confirmed", 1).amount_minor == 82  # type: ignore[union-attr]


def test_exclusions_by_country_plan_cause_and_earlier_compensation():
    p = parse_policy(
        SEED.replace(
            'statuses = ["cancelled"]',
            'statuses = ["cancelled"]\ncountries = ["DE"]\nplans = ["free"]\n'
            'causes = ["planned"]\ncompensated_within_days = 30',
        )
    )
    assert decide(p, SHIPPING, customer(country="DE"), "confirmed", 1) == Excluded("country:DE")
    assert decide(p, SHIPPING, customer(plan="free"), "confirmed", 1) == Excluded("plan:free")
    planned = IncidentFacts(("shipping",), "major", "planned", 60)
    assert decide(p, planned, customer(), "confirmed", 1) == Excluded("cause:planned")
    assert decide(
        p, SHIPPING, customer(), "confirmed", 1, History(compensated_overlapping=True)
    ) == Excluded("already_compensated")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('name = "x"\n', "rules: Field required"),
        (
            'name = "x"\n[[rules]]\nname = "r"\namount = { percent_of_monthly_price = "5" }\nmode = "later"\n',
            'rules[1] ("r").mode',
        ),
        (
            'name = "x"\n[[rules]]\nname = "r"\namount = {}\nmode = "automatic"\n',
            "give exactly one",
        ),
        (
            'name = "x"\n[[rules]]\nname = "r"\namount = { fixed = "1" }\nmode = "automatic"\n'
            "[limits]\nwindow_days = 30\n",
            "window_days and max_percent_per_window go together",
        ),
        (
            'name = "x"\n[[rules]]\nname = "r"\namount = { fixed = "1", cap = { fixed = "2" } }\n'
            'mode = "automatic"\n',
            "cap goes with per_day",
        ),
        ("name = ", "not valid TOML"),
    ],
)
def test_bad_policies_name_the_key(text, says):
    with pytest.raises(InvalidInputError) as caught:
        parse_policy(text, "p.toml")
    assert says in str(caught.value)


CURRENCIES = st.sampled_from(["JPY", "USD", "EUR", "BHD"])
PERCENT = st.decimals(min_value=0, max_value=200, places=3, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    price=st.integers(min_value=0, max_value=10**9),
    currency=CURRENCIES,
    percent=PERCENT,
    statement_cap=st.one_of(st.none(), PERCENT),
    window_cap=st.one_of(st.none(), PERCENT),
    on_statement=st.integers(min_value=0, max_value=10**9),
    in_window=st.integers(min_value=0, max_value=10**9),
    rounding=st.sampled_from(
        ["half_up", "half_even", "half_down", "up", "down", "ceiling", "floor"]
    ),
    magnitude=st.integers(min_value=0, max_value=10_000),
)
def test_credits_are_never_negative_never_above_caps_and_whole_minor_units(
    price,
    currency,
    percent,
    statement_cap,
    window_cap,
    on_statement,
    in_window,
    rounding,
    magnitude,
):
    limits = [f'rounding = "{rounding}"']
    if statement_cap is not None:
        limits.append(f'max_percent_per_statement = "{statement_cap}"')
    if window_cap is not None:
        limits += ["window_days = 30", f'max_percent_per_window = "{window_cap}"']
    p = parse_policy(
        'name = "p"\n[[rules]]\nname = "r"\n'
        f'amount = {{ per_day = {{ percent_of_monthly_price = "{percent}" }} }}\n'
        'mode = "automatic"\n[limits]\n' + "\n".join(limits) + "\n"
    )
    c = customer(price, currency)
    decision = decide(p, SHIPPING, c, "confirmed", magnitude, History(on_statement, in_window))
    if isinstance(decision, Excluded):
        return
    amount = decision.amount_minor
    assert isinstance(amount, int) and amount > 0
    exact = Decimal(price) * percent / 100 * magnitude  # in minor units, unrounded
    assert amount <= exact + 1  # rounding moves at most one minor unit
    if statement_cap is not None:
        assert amount + on_statement <= Decimal(price) * statement_cap / 100
    if window_cap is not None:
        assert amount + in_window <= Decimal(price) * window_cap / 100
