"""The demo's company is one a customer could call: a support line per country."""

from __future__ import annotations

from pathlib import Path

from makegood.demo.scenario import PROFILES
from makegood.demo.walkthrough import demo_settings
from makegood.messaging.letters import support_phone


def test_every_country_of_the_demo_has_its_own_support_number():
    company = demo_settings("sqlite://", "http://127.0.0.1:8000", "k", "smtp://x", Path()).company
    countries = {profile[2] for profile in PROFILES}
    numbers = {country: support_phone(company, country) for country in countries}
    assert all(numbers.values())
    assert len(set(numbers.values())) == len(countries), numbers
    assert support_phone(company, "ZA") == company.support_phones["default"]
