"""Use cases: approve, cancel, look up campaigns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.campaigns.models import Approval, Campaign, Correction
from makegood.core.errors import ConflictError, InvalidInputError, NotFoundError
from makegood.credits.models import Offer
from makegood.credits.offers import drop_offers


def get(session: Session, campaign_id: int, lock: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    campaign = session.scalar(query.with_for_update() if lock else query)
    if campaign is None:
        raise NotFoundError(f"campaign {campaign_id} does not exist")
    return campaign


def approvers(session: Session, campaign_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Approval.approver)
            .where(Approval.campaign_id == campaign_id)
            .order_by(Approval.id)
        )
    )


def approve(session: Session, campaign_id: int, approver: str, now: datetime) -> Campaign:
    """Record an approval; a plan over the policy's budget needs two different people."""
    name = approver.strip()
    if not name:
        raise InvalidInputError("--by: the approver's name is required")
    campaign = get(session, campaign_id, lock=True)
    if campaign.status != "draft":
        raise ConflictError(
            f"campaign {campaign_id} is {campaign.status}; only a draft is approved"
        )
    already = approvers(session, campaign_id)
    if name in already:
        raise ConflictError(
            f"campaign {campaign_id} is already approved by {name}; it is over budget and "
            "needs a second, different approver"
        )
    session.add(Approval(campaign_id=campaign_id, approver=name, at=now))
    before = {"status": campaign.status, "approvers": already}
    if len(already) + 1 >= campaign.approvals_needed:
        campaign.status = "approved"
    record(
        session,
        at=now,
        actor=name,
        action="campaign.approved",
        object_type="campaign",
        object_id=campaign_id,
        before=before,
        after={"status": campaign.status, "approvers": [*already, name]},
    )
    session.flush()
    return campaign


def cancel(session: Session, campaign_id: int, now: datetime, actor: str) -> Campaign:
    """Cancel a draft or approved campaign; its planned offers are removed."""
    campaign = get(session, campaign_id, lock=True)
    if campaign.status not in ("draft", "approved"):
        raise ConflictError(f"campaign {campaign_id} is {campaign.status} and cannot be cancelled")
    before = campaign.status
    removed = sum(offer_counts(session, campaign_id).values())
    drop_offers(session, campaign_id)
    drop_corrections(session, campaign_id)
    campaign.status, campaign.cancelled_at = "cancelled", now
    record(
        session,
        at=now,
        actor=actor,
        action="campaign.cancelled",
        object_type="campaign",
        object_id=campaign_id,
        before={"status": before},
        after={"status": "cancelled", "offers_removed": removed},
    )
    return campaign


def drop_corrections(session: Session, campaign_id: int) -> None:
    """A follow-up's planned corrections, gone (re-planned or cancelled before it ran)."""
    session.execute(delete(Correction).where(Correction.campaign_id == campaign_id))


def offer_counts(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Offer.status, func.count())
        .where(Offer.campaign_id == campaign_id)
        .group_by(Offer.status)
    ).all()
    return {str(status): int(n) for status, n in rows}


def summary(session: Session, campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "incident": campaign.incident_id,
        "status": campaign.status,
        "policy": {
            "name": campaign.policy_name,
            "version": campaign.policy_version,
            "digest": campaign.policy_digest,
        },
        "holdout_percent": campaign.holdout_percent,
        "approvals_needed": campaign.approvals_needed,
        "approvers": approvers(session, campaign.id),
        "offers_by_status": offer_counts(session, campaign.id),
        **campaign.preview,
    }
