"""The seed policy that ships with makegood: the two cases it was first written for
(5% applied automatically; 2% claimable once within 7 days)."""

from __future__ import annotations

from importlib import resources

from makegood.policy.schema import Policy, parse_policy

SEED_POLICY_FILE = "netflix-2008.toml"


def seed_policy_text() -> str:
    """The seed policy's TOML, as shipped."""
    return resources.files("makegood.policy").joinpath(SEED_POLICY_FILE).read_text("utf-8")


def seed_policy() -> Policy:
    return parse_policy(seed_policy_text(), SEED_POLICY_FILE)
