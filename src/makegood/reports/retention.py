"""Did the apology keep customers? Retention of apologised-to customers against the
holdout group, once customer statuses newer than the campaign have been imported.

Both groups come from the same executed campaign: customers the policy would have
compensated, split at planning time by a hash of (incident, customer), so which group
a customer lands in has nothing to do with how likely they are to stay.

- Apologised to: an offer granted, offered, claimed or expired (a claim link that ran
  out was still an apology) with at least one message the mail relay accepted.
  Voided offers are left out: their credit was withdrawn.
- Held out: offers in the holdout; they were sent nothing.

A customer is retained when their status is ``active`` now. Statuses only say
something about the campaign once a customer file has been imported after it
executed (``customers.imported`` in the audit log); until then the report says so
and shows only the group sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, case, exists, func, select
from sqlalchemy.orm import Session

from makegood.audit.models import AuditEntry
from makegood.campaigns.models import Campaign
from makegood.credits.models import Offer
from makegood.customers.models import Customer
from makegood.messaging.models import Message
from makegood.reports.rules import METHOD, Difference, fraction, newcombe, verdict

APOLOGISED = ("granted", "offered", "claimed", "expired")
IMPORTED = "customers.imported"


@dataclass(frozen=True)
class Group:
    customers: int
    active: int | None = None  # None until statuses newer than the campaign are imported

    @property
    def share(self) -> Decimal | None:
        return None if self.active is None else fraction(self.active, self.customers)


@dataclass(frozen=True)
class Retention:
    # measured | no_campaign | not_executed | no_holdout | no_apologies | no_later_import
    state: str
    message: str
    executed_at: datetime | None = None
    statuses_as_of: datetime | None = None  # the last customer import after execution
    apologised: Group | None = None
    held_out: Group | None = None
    difference: Difference | None = None
    method: str = METHOD


def retention(session: Session, campaign: Campaign | None) -> Retention:
    """Retention of the campaign's apologised-to customers against its holdout."""
    if campaign is None:
        return Retention("no_campaign", "No campaign yet, so nobody to follow.")
    executed = campaign.executed_at
    if executed is None:
        return Retention("not_executed", "The campaign has not executed yet.")
    as_of = session.scalar(
        select(func.max(AuditEntry.at)).where(
            AuditEntry.action == IMPORTED, AuditEntry.at > executed
        )
    )
    measured = as_of is not None
    treated = _count(session, campaign.id, _apologised(campaign.id))
    control = _count(session, campaign.id, Offer.status == "held_out")

    def found(state: str, message: str, difference: Difference | None = None) -> Retention:
        return Retention(
            state,
            message,
            executed_at=executed,
            statuses_as_of=as_of,
            apologised=Group(treated[0], treated[1] if measured else None),
            held_out=Group(control[0], control[1] if measured else None),
            difference=difference,
        )

    if not control[0]:
        return found(
            "no_holdout",
            f"The campaign held nobody out (holdout {campaign.holdout_percent}%), so there "
            "is no group to compare against; plan with --holdout to measure the effect.",
        )
    if not treated[0]:
        return found("no_apologies", "No apology has been delivered yet: nobody to compare.")
    if not measured:
        return found(
            "no_later_import",
            "No customer statuses have been imported since the campaign executed; import "
            "a later customer file to measure retention against the holdout.",
        )
    diff = newcombe(treated[1], treated[0], control[1], control[0])
    return found("measured", verdict(diff), diff)


def _apologised(campaign_id: int) -> ColumnElement[bool]:
    delivered = exists().where(
        Message.campaign_id == campaign_id,
        Message.customer_id == Offer.customer_id,
        Message.status == "sent",
    )
    return and_(Offer.status.in_(APOLOGISED), delivered)


def _count(session: Session, campaign_id: int, condition: ColumnElement[bool]) -> tuple[int, int]:
    """(customers, of whom active now) among the campaign's offers matching ``condition``."""
    active = func.coalesce(func.sum(case((Customer.status == "active", 1), else_=0)), 0)
    customers, still = session.execute(
        select(func.count(), active)
        .select_from(Offer)
        .join(Customer, Customer.customer_id == Offer.customer_id)
        .where(Offer.campaign_id == campaign_id, condition)
    ).one()
    return int(customers), int(still)
