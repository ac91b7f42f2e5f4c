"""What other domains ask of campaigns through their ports: what a campaign promised
(each rule's percent of the monthly price, for letters), and whether one was executed
from an incident's impacts."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.campaigns.models import EXECUTED_STATES, Campaign
from makegood.policy.schema import parse_policy


@lru_cache(maxsize=32)
def percents_of(policy_source: str) -> Mapping[str, Decimal | None]:
    """Each rule's percent of the monthly price, when that is how it pays."""
    policy = parse_policy(policy_source)
    return {rule.name: rule.amount.percent_of_monthly_price for rule in policy.rules}


class Terms:
    """Reads each campaign's policy as it was when the campaign was planned."""

    def percents(
        self, session: Session, campaign_ids: Collection[int]
    ) -> Mapping[int, Mapping[str, Decimal | None]]:
        rows = session.execute(
            select(Campaign.id, Campaign.policy_source).where(Campaign.id.in_(set(campaign_ids)))
        )
        return {campaign_id: percents_of(source) for campaign_id, source in rows}


class Executed:
    """The ``ExecutedCampaigns`` check of impact: impacts stay as they are once a
    campaign was executed from them."""

    def executed_campaign(self, session: Session, incident_id: int) -> int | None:
        return session.scalar(
            select(Campaign.id).where(
                Campaign.incident_id == incident_id, Campaign.status.in_(EXECUTED_STATES)
            )
        )
