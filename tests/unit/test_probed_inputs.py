"""Inputs an outsider sent while probing: each gets a clear error, never a crash or a
message with its placeholder left in."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from makegood.campaigns.schemas import PlanIn
from makegood.core.errors import InvalidInputError
from makegood.kits.http.fields import Instant
from makegood.policy.schema import parse_policy


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 1000 + "]" * 1000,
        "rules = " + "{a = " * 2000 + "1" + "}" * 2000,
    ],
    ids=["1000 nested arrays", "2000 nested inline tables"],
)
def test_a_deeply_nested_policy_is_refused_by_name(text):
    with pytest.raises(InvalidInputError, match="plan.toml: not a policy: .* nested too deeply"):
        parse_policy(text, "plan.toml")


class At(BaseModel):
    at: Instant


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("2026-03-02T23:00:00", "'2026-03-02T23:00:00' has no UTC offset; write it with one"),
        ("next tuesday", "'next tuesday' is not an ISO-8601 instant"),
    ],
)
def test_instant_errors_show_the_value_not_a_placeholder(given, said):
    with pytest.raises(ValidationError) as caught:
        At(at=given)
    message = caught.value.errors()[0]["msg"]
    assert said in message and "{" not in message


def test_a_bad_holdout_shows_the_value():
    with pytest.raises(ValidationError) as caught:
        PlanIn.model_validate({"incident_id": 1, "policy": "name = 1", "holdout_percent": "lots"})
    messages = [e["msg"] for e in caught.value.errors()]
    assert any("'lots' is not a percent from 0 to below 100" in m for m in messages)
    assert not any("{value" in m for m in messages)
