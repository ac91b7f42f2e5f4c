"""Counts said as a person says them: "1 entry", "8 entries", never "8 entr(ies)"."""

from __future__ import annotations


def counted(n: int, one: str, many: str | None = None) -> str:
    """``n`` with its noun: the singular for exactly one, else the plural (``one + "s"``
    unless given), with thousands separated."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"
