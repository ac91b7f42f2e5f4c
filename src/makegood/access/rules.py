"""Roles, from least to most trusted. Each role may do what the ones before it may.

``claims`` stands apart: a key for the company's own signed-in site, which may list a
customer's open offers and claim them, and nothing else (admins may too)."""

from __future__ import annotations

ROLES = ("viewer", "operator", "approver", "admin")
# viewer: reads everything; operator: declares, runs impact, plans, executes, cancels,
# imports and exports; approver: also approves campaigns; admin: also manages keys.
CLAIMS = "claims"
KEY_ROLES = (*ROLES, CLAIMS)


def rank(role: str) -> int:
    return ROLES.index(role)


def allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may."""
    if needed == CLAIMS:
        return role in (CLAIMS, "admin")
    return role in ROLES and rank(role) >= rank(needed)
