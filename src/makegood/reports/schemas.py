"""The incident report as the API and `makegood report --json` show it."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import Field

from makegood.core.money import format_major
from makegood.kits.charts.series import Series
from makegood.kits.http.fields import Amount, Instant, Out
from makegood.reports.retention import Group, Retention
from makegood.reports.rules import rounded
from makegood.reports.service import Cost, IncidentReport
from makegood.reports.timing import TimeToApology

FRACTION = r"^-?[01]\.[0-9]{4}$"


class IncidentRef(Out):
    id: int
    title: str
    services: list[str]
    start: Instant
    end: Instant | None


class CampaignRef(Out):
    id: int
    status: str


class Affected(Out):
    confirmed: int
    possible: int
    total: int


class Excluded(Out):
    total: int
    by_reason: dict[str, int] = Field(description="e.g. status, below_minimum, compensated")


class ClaimsOut(Out):
    offered: int = Field(description="Claim links issued.")
    claimed: int = Field(description="Of those, claimed (even if voided later).")
    rate: str | None = Field(
        pattern=r"^[01]\.[0-9]{4}$",
        description="Claimed over offered, as a fraction with four places; null with no links.",
    )


class CreditsOut(Out):
    granted: Amount = Field(description="Automatic credits.")
    claimed: Amount = Field(description="Credits customers claimed.")
    reversed: Amount = Field(description="Reversals of voided credits (zero or negative).")
    net: Amount


class DeliveryOut(Out):
    notified: int = Field(description="Customers with an apology in the outbox.")
    delivered: int = Field(description="Of those, with a message the mail relay accepted.")
    failed: int = Field(description="None accepted and none left to try.")
    suppressed: int = Field(description="None accepted; the address refuses mail.")
    pending: int = Field(description="None accepted yet; queued, sending or retrying.")
    bounced: int = Field(
        description="Accepted by the relay, then bounced for good by the receiving system."
    )
    complained: int = Field(description="Customers who reported an apology as spam.")
    opted_out: int = Field(
        description="Of the suppressed, customers who had unsubscribed or complained: "
        "credited as planned, not mailed."
    )


class StepOut(Out):
    step: str = Field(description="affected, offered, notified, delivered, granted, claimed")
    label: str
    customers: int


class CostOut(Out):
    net: Amount = Field(description="Net credit: granted + claimed + reversed.")
    customers: int = Field(description="Affected customers billed in this currency.")
    monthly_revenue: Amount = Field(description="Their monthly prices, summed.")
    share_of_monthly_revenue: str | None = Field(
        pattern=r"^-?[0-9]+\.[0-9]{6}$",
        description="Net credit over monthly revenue, a fraction with six places "
        "(0.012500 is 1.25%); null without revenue.",
    )
    open_claims: Amount = Field(description="Claim links still open: at most this much more.")

    @classmethod
    def of(cls, c: Cost) -> CostOut:
        share = c.share
        return cls(
            net=format_major(c.net, c.currency),
            customers=c.customers,
            monthly_revenue=format_major(c.monthly_revenue, c.currency),
            share_of_monthly_revenue=None if share is None else str(share),
            open_claims=format_major(c.open_claims, c.currency),
        )


class SeriesOut(Out):
    start: Instant = Field(description="Start of the first bucket.")
    step_seconds: int = Field(description="Width of every bucket.")
    counts: list[int] = Field(description="Bucket i covers [start + i*step, start + (i+1)*step).")

    @classmethod
    def of(cls, series: Series | None) -> SeriesOut | None:
        if series is None:
            return None
        return cls(
            start=series.start,
            step_seconds=int(series.step.total_seconds()),
            counts=list(series.counts),
        )


class TimeToApologyOut(Out):
    incident_end: Instant | None
    customers: int = Field(description="Customers with a message the relay accepted.")
    first_accepted: Instant | None
    last_accepted: Instant | None = Field(
        description="When the last customer's first message was accepted."
    )
    to_last_seconds: int | None = Field(description="Incident end to last_accepted.")
    median_seconds: int | None = Field(
        description="Median over customers of (first accepted message - incident end)."
    )
    over_time: SeriesOut | None = Field(description="Customers reached per bucket of time.")

    @classmethod
    def of(cls, t: TimeToApology) -> TimeToApologyOut:
        return cls(
            incident_end=t.incident_end,
            customers=t.customers,
            first_accepted=t.first_accepted,
            last_accepted=t.last_accepted,
            to_last_seconds=_seconds(t.to_last),
            median_seconds=_seconds(t.median),
            over_time=SeriesOut.of(t.over_time),
        )


class GroupOut(Out):
    customers: int
    active: int | None = Field(description="Active now; null until a later customer import.")
    share: str | None = Field(pattern=FRACTION, description="active / customers.")

    @classmethod
    def of(cls, g: Group | None) -> GroupOut | None:
        if g is None:
            return None
        share = g.share
        return cls(
            customers=g.customers, active=g.active, share=None if share is None else str(share)
        )


class IntervalOut(Out):
    low: str = Field(pattern=FRACTION)
    high: str = Field(pattern=FRACTION)
    level: str = "0.95"
    method: str


class RetentionOut(Out):
    state: str = Field(
        description="measured, no_campaign, not_executed, no_holdout, no_apologies or "
        "no_later_import"
    )
    message: str = Field(description="The finding, or why there is none, in plain words.")
    executed_at: Instant | None
    statuses_as_of: Instant | None = Field(
        description="The last customer import after the campaign executed."
    )
    apologised: GroupOut | None = Field(
        description="Offer granted, offered, claimed or expired, with a message delivered."
    )
    held_out: GroupOut | None = Field(description="The holdout group: sent nothing.")
    difference: str | None = Field(
        pattern=FRACTION, description="Apologised share active minus held-out share active."
    )
    interval: IntervalOut | None

    @classmethod
    def of(cls, r: Retention | None) -> RetentionOut | None:
        if r is None:
            return None
        d = r.difference
        return cls(
            state=r.state,
            message=r.message,
            executed_at=r.executed_at,
            statuses_as_of=r.statuses_as_of,
            apologised=GroupOut.of(r.apologised),
            held_out=GroupOut.of(r.held_out),
            difference=None if d is None else str(rounded(d.value)),
            interval=None
            if d is None
            else IntervalOut(low=str(rounded(d.low)), high=str(rounded(d.high)), method=r.method),
        )


class FailureOut(Out):
    entry_id: int
    customer_id: str
    reason: str = Field(description="Why the billing system refused it for good.")


class BillingOut(Out):
    pending: int = Field(description="Entries not yet taken, still to be tried.")
    delivered: int = Field(description="Entries the billing system holds.")
    failed: int = Field(description="Entries refused for good; never retried.")
    failures: list[FailureOut] = Field(description="The first 50 failures, with reasons.")
    rounding: dict[str, str] = Field(
        description="Per currency, what the billing system's currency rules added, kept "
        "with the entries."
    )


def _seconds(span: timedelta | None) -> int | None:
    if span is None:
        return None
    return int(Decimal(str(span.total_seconds())).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class ReportOut(Out):
    incident: IncidentRef
    as_of: Instant = Field(description="Claim links past their deadline by then count as expired.")
    campaign: CampaignRef | None = Field(description="The campaign reported on (not cancelled).")
    affected: Affected = Field(description="Customers the incident hurt, by confidence.")
    excluded: Excluded = Field(description="Customers the policy gave nothing, by reason.")
    held_out: int = Field(description="Offers held back as the control group.")
    offers: dict[str, dict[str, int]] = Field(
        description="Offers by mode (automatic, claim), then by status."
    )
    messages: dict[str, int] = Field(
        description="Apologies by delivery status: queued, sending, sent, retrying, "
        "failed, suppressed."
    )
    claims: ClaimsOut
    credits: dict[str, CreditsOut] = Field(description="Credits per currency, in major units.")
    delivery: DeliveryOut = Field(description="Customers by what became of their apology.")
    funnel: list[StepOut] = Field(description="Customers at each step, affected to credited.")
    cost: dict[str, CostOut] = Field(
        description="Per currency: net credit against the affected customers' monthly revenue."
    )
    claims_over_time: SeriesOut | None = Field(description="Claims per bucket of time.")
    time_to_apology: TimeToApologyOut
    retention: RetentionOut | None = Field(
        description="Retention of apologised-to customers against the holdout group."
    )
    billing: dict[str, BillingOut] = Field(
        default_factory=dict,
        description="Per billing sink that takes entries one by one (stripe, webhook): "
        "where this incident's ledger entries stand.",
    )
    corrections: dict[str, Any] | None = Field(
        default=None,
        description="For an amended incident: its amendments (before and after), the "
        "difference the impact run after them found (changes: added, removed, magnitude, "
        "confidence, with a sample of customers), and each follow-up campaign: new offers "
        "and top-ups (customers and totals), earlier offers kept, closed or reversed, what "
        "the reversals took back, and notices queued. Null when never amended.",
    )

    @classmethod
    def of(cls, report: IncidentReport) -> ReportOut:
        incident, campaign = report.incident, report.campaign
        rate = report.claims.rate
        return cls(
            incident=IncidentRef(
                id=incident.id,
                title=incident.title,
                services=list(incident.services),
                start=incident.start_at,
                end=incident.end_at,
            ),
            as_of=report.as_of,
            campaign=None
            if campaign is None
            else CampaignRef(id=campaign.id, status=campaign.status),
            affected=Affected(
                confirmed=report.affected.get("confirmed", 0),
                possible=report.affected.get("possible", 0),
                total=sum(report.affected.values()),
            ),
            excluded=Excluded(total=sum(report.excluded.values()), by_reason=report.excluded),
            held_out=report.held_out,
            offers=report.offers,
            messages=report.messages,
            claims=ClaimsOut(
                offered=report.claims.offered,
                claimed=report.claims.claimed,
                rate=None if rate is None else str(rate),
            ),
            credits={
                currency: CreditsOut(
                    granted=format_major(c.granted, currency),
                    claimed=format_major(c.claimed, currency),
                    reversed=format_major(c.reversed, currency),
                    net=format_major(c.net, currency),
                )
                for currency, c in report.credits.items()
            },
            delivery=DeliveryOut.model_validate(report.delivery),
            funnel=[
                StepOut(step=s.key, label=s.label, customers=s.customers) for s in report.funnel
            ],
            cost={c.currency: CostOut.of(c) for c in report.costs},
            claims_over_time=SeriesOut.of(report.claims_over_time),
            time_to_apology=TimeToApologyOut.of(report.time_to_apology),
            retention=RetentionOut.of(report.retention),
            billing={
                name: BillingOut.model_validate(one.as_dict())
                for name, one in report.billing.items()
            },
            corrections=report.corrections,
        )
