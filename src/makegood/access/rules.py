"""Roles, from least to most trusted. Each role may do what the ones before it may."""

from __future__ import annotations

ROLES = ("viewer", "operator", "approver", "admin")
# viewer: reads everything; operator: declares, runs impact, plans, executes, cancels,
# imports and exports; approver: also approves campaigns; admin: also manages keys.


def rank(role: str) -> int:
    return ROLES.index(role)


def allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may."""
    return role in ROLES and rank(role) >= rank(needed)
