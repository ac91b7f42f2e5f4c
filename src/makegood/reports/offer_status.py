"""What an offer's status is at a given instant: the one rule the report and the
Prometheus metrics both count by.

Nothing rewrites an offer's row when its claim deadline passes, so a row may still
say ``offered`` long after its link stopped working. Counted as of an instant, such
an offer is ``expired``: its link is refused (410) and no credit can come of it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, case

from makegood.credits.models import Offer


def open_at(now: datetime) -> ColumnElement[bool]:
    """Offers whose claim link still works at ``now``: offered, deadline ahead (the
    same test the claim itself makes)."""
    return and_(Offer.status == "offered", Offer.expires_at > now)


def status_at(now: datetime) -> ColumnElement[str]:
    """``Offer.status`` as of ``now``, in SQL: an offered link past its deadline reads
    ``expired``; every other status reads as stored."""
    return case(
        (open_at(now), "offered"),
        (Offer.status == "offered", "expired"),
        else_=Offer.status,
    )
