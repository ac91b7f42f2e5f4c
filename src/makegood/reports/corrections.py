"""An incident's corrections in its report: each amendment (before and after), the
difference the impact run after it found, and what each follow-up campaign did
about it: offers for the newly affected, top-ups, and the earlier offers it kept,
closed or reversed, with what each cost."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from makegood.campaigns.followup import TOP_UP
from makegood.campaigns.models import Campaign, Correction
from makegood.core.money import format_major
from makegood.credits.models import LedgerEntry, Offer
from makegood.impact.changes import latest_changes
from makegood.incidents.amend import amendments_for
from makegood.messaging.models import Message

SAMPLE = 10


def corrections(session: Session, incident_id: int) -> dict[str, Any] | None:
    """None for an incident never amended."""
    amendments = amendments_for(session, incident_id)
    if not amendments:
        return None
    follow_ups = session.scalars(
        select(Campaign)
        .where(
            Campaign.incident_id == incident_id,
            Campaign.round > 0,
            Campaign.status != "cancelled",
        )
        .order_by(Campaign.round, Campaign.id)
    ).all()
    return {
        "amendments": amendments,
        "changes": latest_changes(session, incident_id),
        "follow_ups": [_follow_up(session, c) for c in follow_ups],
    }


def _follow_up(session: Session, campaign: Campaign) -> dict[str, Any]:
    offers: dict[str, dict[str, Any]] = {
        "new": {"customers": 0, "totals": defaultdict(int)},
        "top_up": {"customers": 0, "totals": defaultdict(int)},
    }
    kinds = (
        select(
            Offer.rule.startswith(TOP_UP).label("top_up"),
            Offer.currency,
            Offer.amount_minor,
        )
        .where(Offer.campaign_id == campaign.id, Offer.status != "held_out")
        .subquery()
    )
    for is_top_up, currency, n, total in session.execute(
        select(
            kinds.c.top_up, kinds.c.currency, func.count(), func.sum(kinds.c.amount_minor)
        ).group_by(kinds.c.top_up, kinds.c.currency)
    ):
        side = offers["top_up" if is_top_up else "new"]
        side["customers"] += int(n)
        side["totals"][str(currency)] += int(total or 0)
    return {
        "campaign_id": campaign.id,
        "round": campaign.round,
        "status": campaign.status,
        "new_offers": _shown(offers["new"]),
        "top_ups": _shown(offers["top_up"]),
        "corrections": _corrections(session, campaign.id),
        "reversed": _reversed(session, campaign.id),
        "notices": int(
            session.scalar(
                select(func.count()).where(
                    Message.campaign_id == campaign.id, Message.kind == "correction_notice"
                )
            )
            or 0
        ),
    }


def _shown(side: dict[str, Any]) -> dict[str, Any]:
    return {
        "customers": side["customers"],
        "totals": {c: format_major(m, c) for c, m in sorted(side["totals"].items())},
    }


def _corrections(session: Session, campaign_id: int) -> dict[str, Any]:
    """By action and outcome, and the first few customers of each action."""
    counts: dict[str, dict[str, int]] = {
        a: {"planned": 0, "done": 0, "skipped": 0} for a in ("keep", "close", "reverse")
    }
    for action, status, n in session.execute(
        select(Correction.action, Correction.status, func.count())
        .where(Correction.campaign_id == campaign_id)
        .group_by(Correction.action, Correction.status)
    ):
        counts[str(action)][str(status)] = int(n)
    sample = [
        {"customer_id": cid, "offer_id": int(oid), "action": a, "reason": r, "status": s}
        for cid, oid, a, r, s in session.execute(
            select(
                Correction.customer_id,
                Correction.offer_id,
                Correction.action,
                Correction.reason,
                Correction.status,
            )
            .where(Correction.campaign_id == campaign_id, Correction.action != "keep")
            .order_by(Correction.customer_id)
            .limit(SAMPLE)
        )
    ]
    return {"by_action": counts, "sample": sample}


def _reversed(session: Session, campaign_id: int) -> dict[str, str]:
    """What the follow-up's reversals took back, per currency (a positive amount)."""
    taken = (
        select(Correction.offer_id)
        .where(Correction.campaign_id == campaign_id, Correction.status == "done")
        .scalar_subquery()
    )
    rows = session.execute(
        select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
        .where(LedgerEntry.kind == "reversal", LedgerEntry.offer_id.in_(taken))
        .group_by(LedgerEntry.currency)
        .order_by(LedgerEntry.currency)
    )
    return {str(c): format_major(-int(m or 0), str(c)) for c, m in rows}
