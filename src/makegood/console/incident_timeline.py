"""Console: an incident's timeline, from declaration to the last claim, each step
with who took it and when, drawn from the records and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.audit.models import AuditEntry
from makegood.campaigns.models import Approval, Campaign
from makegood.console.activity import Activity, progress
from makegood.impact.models import ImpactRun
from makegood.incidents.models import Incident

NOW_LABELS = {
    "resolved": "ongoing",
    "approved": "awaiting approval",
    "executed": "running",
    "sending": "in progress",
}


AUDITED = ("incident.declared", "incident.resolved", "impact.run", "campaign.cancelled")


@dataclass
class Step:
    """One stage of the incident's life, reached (``at`` set) or still ahead."""

    key: str
    what: str
    at: datetime | None = None
    detail: str = ""
    who: str = ""
    state: str = "todo"  # done | now | todo | stopped

    @property
    def waiting(self) -> str:
        """What the stage in progress is waiting for, in a word or two."""
        return NOW_LABELS.get(self.key, "next")


# ---------------------------------------------------------------- reading


def actors_of(
    session: Session, incident: Incident, runs: list[ImpactRun], campaigns: list[Campaign]
) -> dict[str, str]:
    """Who declared, resolved, found the impact and cancelled, from the audit log:
    {"incident.declared": "sam", "campaign.cancelled:4": "lee", ...}.

    Looked up by the instants the rows already carry, so the index on the entry time
    finds them without reading the log's one entry per offer.
    """
    instants = {incident.declared_at, incident.resolved_at}
    instants.update(run.ran_at for run in runs[-1:])
    instants.update(c.cancelled_at for c in campaigns)
    ids = [str(incident.id), *(str(c.id) for c in campaigns)]
    found: dict[str, str] = {}
    for object_type, object_id, action, actor in session.execute(
        select(AuditEntry.object_type, AuditEntry.object_id, AuditEntry.action, AuditEntry.actor)
        .where(
            AuditEntry.at.in_([i for i in instants if i is not None]),
            AuditEntry.action.in_(AUDITED),
            AuditEntry.object_id.in_(ids),
        )
        .order_by(AuditEntry.id)
    ):
        if object_type == "campaign":
            found[f"{action}:{object_id}"] = actor
        elif object_id == str(incident.id):
            found[action] = actor
    return found


def timeline(
    session: Session,
    incident: Incident,
    runs: list[ImpactRun],
    campaigns: list[Campaign],
    actors: dict[str, str],
    act: Activity,
) -> tuple[list[Step], Campaign | None]:
    live = [c for c in campaigns if c.status != "cancelled"]
    campaign = live[-1] if live else (campaigns[-1] if campaigns else None)
    steps = _incident_steps(incident, runs, actors)
    approvals: list[Approval] = []
    state: dict[str, Any] = {}
    first_sent: datetime | None = None
    last_sent: datetime | None = None
    if campaign is not None:
        approvals = list(
            session.scalars(
                select(Approval).where(Approval.campaign_id == campaign.id).order_by(Approval.id)
            )
        )
        state = progress(campaign, act)
        # Only the live campaign sends (a cancelled one never did).
        if act.sent_per_second:
            first_sent = datetime.fromtimestamp(min(act.sent_per_second), UTC)
            last_sent = datetime.fromtimestamp(max(act.sent_per_second), UTC)
    steps += _plan_steps(campaign, approvals)
    steps += _run_steps(campaign, state, first_sent, last_sent)
    if campaign is not None and campaign.status == "cancelled":
        steps.append(
            Step(
                "cancelled",
                f"Campaign #{campaign.id} cancelled",
                campaign.cancelled_at,
                "Its planned offers were removed; plan again to start over.",
                actors.get(f"campaign.cancelled:{campaign.id}", ""),
            )
        )
    _mark(steps, state)
    return steps, campaign


def _incident_steps(
    incident: Incident, runs: list[ImpactRun], actors: dict[str, str]
) -> list[Step]:
    """Declared, resolved and impact found."""
    run = runs[-1] if runs else None
    return [
        Step(
            "declared",
            "Declared",
            incident.declared_at,
            f"{incident.severity.capitalize()} incident on {', '.join(incident.services)}",
            actors.get("incident.declared", ""),
        ),
        Step(
            "resolved",
            "Resolved",
            incident.resolved_at if incident.end_at else None,
            f"Ended {incident.end_at:%Y-%m-%d %H:%M} UTC" if incident.end_at else "Still open",
            actors.get("incident.resolved", ""),
        ),
        Step(
            "impact",
            "Impact found",
            run.ran_at if run else None,
            f"{run.confirmed:,} confirmed, {run.possible:,} possible"
            + (f" · run {len(runs)} times" if len(runs) > 1 else "")
            if run
            else "",
            actors.get("impact.run", ""),
        ),
    ]


def _plan_steps(campaign: Campaign | None, approvals: list[Approval]) -> list[Step]:
    """Campaign planned and approved."""
    cid = campaign.id if campaign else 0
    preview = (campaign.preview or {}) if campaign else {}
    needed = campaign.approvals_needed if campaign else 1
    return [
        Step(
            "planned",
            "Campaign planned",
            campaign.planned_at if campaign else None,
            f"Campaign #{cid}: {preview.get('offers', 0):,} offers under "
            f"{campaign.policy_name} v{campaign.policy_version}"
            if campaign
            else "",
            campaign.planned_by if campaign else "",
        ),
        Step(
            "approved",
            "Approved",
            approvals[-1].at if campaign and len(approvals) >= needed else None,
            f"{len(approvals)} of {needed} approval{'s' if needed > 1 else ''}"
            + (" (over budget: two different approvers)" if needed > 1 else "")
            if campaign and campaign.status != "cancelled"
            else "",
            " and ".join(a.approver for a in approvals),
        ),
    ]


def _run_steps(
    campaign: Campaign | None,
    state: dict[str, Any],
    first_sent: datetime | None,
    last_sent: datetime | None,
) -> list[Step]:
    """Executed, sending and done."""
    offers = state.get("offers", {})
    messages = state.get("messages", {})
    return [
        Step(
            "executed",
            "Executed",
            campaign.executed_at if campaign else None,
            (
                f"{offers.get('executed', 0):,} of {offers.get('total', 0):,} offers executed"
                + (
                    f", finished {campaign.finished_at:%Y-%m-%d %H:%M} UTC"
                    if campaign.finished_at
                    else ""
                )
            )
            if campaign and campaign.executed_at
            else "",
            "",
        ),
        Step(
            "sending",
            "Sending",
            first_sent,
            f"{messages.get('sent', 0):,} sent, {messages.get('failed', 0):,} failed, "
            f"{messages.get('suppressed', 0):,} suppressed of {messages.get('total', 0):,}; "
            f"first {first_sent:%H:%M:%S}, last {last_sent:%H:%M:%S} UTC"
            if first_sent and last_sent
            else (f"{messages.get('total', 0):,} queued" if messages.get("total") else ""),
        ),
        Step(
            "done",
            "Done",
            (last_sent or campaign.finished_at) if campaign and state.get("done") else None,
            "Every apology is out" if state.get("done") else "",
        ),
    ]


def _mark(steps: list[Step], state: dict[str, Any]) -> None:
    """done for reached stages; the first stage not reached is the one in progress."""
    seen_open = False
    for step in steps:
        if step.key == "cancelled":
            step.state = "stopped"
        elif step.at is not None and not seen_open:
            step.state = "done"
        elif not seen_open:
            step.state = "now"
            seen_open = True
    for step in steps:
        # Sending has started but not finished: it is the stage in progress.
        if step.key == "sending" and step.at is not None and not state.get("done"):
            step.state = "now"
