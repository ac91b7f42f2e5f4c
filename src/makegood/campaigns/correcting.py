"""Executing a follow-up campaign's corrections (see campaigns/followup.py), after its
offers, in chunks of one transaction each.

A correction moves from planned to done (applied) or skipped (the offer moved on
since the plan: a link claimed before it could close, a credit voided by hand).
Closing a link and reversing a credit both go through credits' ``void``, which locks
the offer, writes at most one reversal per offer (the ledger's unique key) and
audits it; a correction re-run after a crash finds the offer voided and skips.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.campaigns.models import Campaign, Correction
from makegood.credits.models import Offer
from makegood.credits.service import void
from makegood.messaging import queue

# What each action may act on: a closing link must still be open.
ACTS_ON = {"close": ("offered",), "reverse": ("granted", "offered", "claimed")}


def reason_words(reason: str) -> str:
    """Why, as the ledger and the audit log say it."""
    if reason == "no_longer_affected":
        return "incident corrected: no longer affected"
    return f"incident corrected: now excluded ({reason})"


def correct_chunk(
    session: Session, campaign: Campaign, now: datetime, actor: str, limit: int
) -> int:
    """Apply up to ``limit`` planned corrections; answers how many were taken."""
    rows = session.scalars(
        select(Correction)
        .where(Correction.campaign_id == campaign.id, Correction.status == "planned")
        .order_by(Correction.offer_id)
        .limit(limit)
    ).all()
    told: list[tuple[int, str, str]] = []
    for correction in rows:
        applied = correction.action != "keep" and _apply(session, correction, now, actor)
        correction.status = "done" if applied or correction.action == "keep" else "skipped"
        correction.done_at = now
        if applied and correction.notify:
            told.append((correction.offer_id, correction.customer_id, correction.action))
    if told:
        queue.queue_notices(session, campaign.id, told, now)
    session.flush()
    return len(rows)


def _apply(session: Session, correction: Correction, now: datetime, actor: str) -> bool:
    status = session.scalar(
        select(Offer.status).where(Offer.id == correction.offer_id).with_for_update()
    )
    if status not in ACTS_ON[correction.action]:
        return False
    void(session, correction.offer_id, reason_words(correction.reason), now, actor)
    return True
