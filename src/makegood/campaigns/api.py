"""``/api/campaigns``: plan, list, show, preview, approve, execute and cancel."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.campaigns.execution import execute
from makegood.campaigns.models import Campaign
from makegood.campaigns.planning import plan
from makegood.campaigns.preview import check_templates, preview
from makegood.campaigns.schemas import (
    CampaignItem,
    CampaignOut,
    ExecuteOut,
    PlanIn,
    PolicyRef,
    PreviewOut,
)
from makegood.campaigns.service import approve, cancel, get, summary
from makegood.kits.http.deps import Approver, Operator, Svc, Uow, Viewer, actor
from makegood.kits.http.errors import COMMON, CONFLICT, NOT_FOUND, ErrorResponse
from makegood.kits.http.fields import MALFORMED, CampaignId, Text
from makegood.kits.http.pages import Page, Window, fetch, page, window
from makegood.kits.root import Root
from makegood.messaging.ports import RENDERER
from makegood.messaging.rendering import Renderer
from makegood.policy.schema import parse_policy

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], responses=COMMON)

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorResponse,
        "description": "A letter template fails to render, or a setting is missing",
    }
}


def _renderer(svc: Root) -> Renderer:
    return svc.port(RENDERER)


def _base(campaign: Campaign) -> dict[str, Any]:
    planned = campaign.preview or {}
    return {
        "id": campaign.id,
        "incident": campaign.incident_id,
        "status": campaign.status,
        "policy": PolicyRef(
            name=campaign.policy_name,
            version=campaign.policy_version,
            digest=campaign.policy_digest,
        ),
        "holdout_percent": campaign.holdout_percent,
        "approvals_needed": campaign.approvals_needed,
        "offers": int(planned.get("offers", 0)),
        "totals": dict(planned.get("totals", {})),
        "created_at": campaign.created_at,
        "planned_at": campaign.planned_at,
        "planned_by": campaign.planned_by,
        "executed_at": campaign.executed_at,
        "finished_at": campaign.finished_at,
        "cancelled_at": campaign.cancelled_at,
    }


def detail(session: Session, campaign: Campaign) -> CampaignOut:
    data = summary(session, campaign)
    return CampaignOut(
        **_base(campaign),
        automatic=int(data.get("automatic", 0)),
        claim=int(data.get("claim", 0)),
        excluded=int(data.get("excluded", 0)),
        excluded_by_reason=dict(data.get("excluded_by_reason", {})),
        held_out=int(data.get("held_out", 0)),
        budget=dict(data.get("budget", {})),
        over_budget=dict(data.get("over_budget", {})),
        largest=list(data.get("largest", [])),
        letters=list(data.get("letters", [])),
        generated_summaries=dict(data.get("generated_summaries", {})),
        channels=dict(data.get("channels", {})),
        opted_out=int(data.get("opted_out", 0)),
        sms_lengths=list(data.get("sms_lengths", [])),
        approvers=data["approvers"],
        offers_by_status=data["offers_by_status"],
    )


@router.post(
    "",
    status_code=201,
    response_model=CampaignOut,
    responses={**NOT_FOUND, **CONFLICT, **UNAVAILABLE, **MALFORMED},
)
def plan_campaign(body: PlanIn, uow: Uow, svc: Svc, caller: Operator) -> CampaignOut:
    """Decide what each impacted customer is owed under the policy; a draft campaign.

    Planning again replaces the incident's draft. Every locale and mode in the plan
    is rendered once, so a template that fails is found now (503), not when sending.
    """
    policy = parse_policy(body.policy, "policy")
    now = svc.now()
    campaign = plan(
        uow.session, body.incident_id, policy, Decimal(body.holdout_percent), now, actor(caller)
    )
    settings = svc.settings
    check_templates(uow.session, campaign, _renderer(svc), settings.company, settings.base_url, now)
    uow.commit()
    return detail(uow.session, campaign)


@router.get("", response_model=Page[CampaignItem])
def list_campaigns(
    uow: Uow,
    _: Viewer,
    w: Annotated[Window, Depends(window)],
    incident_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    status: Annotated[
        Literal["draft", "approved", "executing", "done", "cancelled"] | None, Query()
    ] = None,
) -> Page[CampaignItem]:
    """Campaigns, newest first."""
    query = select(Campaign)
    if incident_id is not None:
        query = query.where(Campaign.incident_id == incident_id)
    if status is not None:
        query = query.where(Campaign.status == status)
    rows, total = fetch(uow.session, query.order_by(Campaign.id.desc()), w)
    return page([CampaignItem(**_base(c)) for c in rows], total, w)


@router.get("/{campaign_id}", response_model=CampaignOut, responses=NOT_FOUND)
def show_campaign(campaign_id: CampaignId, uow: Uow, _: Viewer) -> CampaignOut:
    """A campaign's preview (offers, exclusions, totals, largest credits), approvals
    and offers by status."""
    return detail(uow.session, get(uow.session, campaign_id))


@router.get(
    "/{campaign_id}/preview",
    response_model=PreviewOut,
    responses={**NOT_FOUND, **UNAVAILABLE},
)
def preview_letter(
    campaign_id: CampaignId,
    uow: Uow,
    svc: Svc,
    _: Viewer,
    customer_id: Annotated[
        Text | None,
        Query(min_length=1, max_length=200, description="Whose letter (default: the first)."),
    ] = None,
) -> PreviewOut:
    """The exact email one customer gets: subject, text, HTML and headers.

    Works on drafts too. A claim link shows a placeholder, never a real token.
    """
    campaign = get(uow.session, campaign_id)
    settings = svc.settings
    offer, letter, mail = preview(
        uow.session,
        campaign,
        _renderer(svc),
        settings.company,
        settings.base_url,
        svc.now(),
        customer_id,
    )
    return PreviewOut(
        campaign=campaign.id,
        customer_id=offer.customer_id,
        locale=letter.locale,
        subject=letter.subject,
        text=letter.text,
        html=letter.html,
        headers=mail.readable_headers(),
    )


@router.post(
    "/{campaign_id}/approve",
    response_model=CampaignOut,
    responses={**NOT_FOUND, **CONFLICT},
)
def approve_campaign(campaign_id: CampaignId, uow: Uow, svc: Svc, caller: Approver) -> CampaignOut:
    """Approve a draft as the key's owner. Over the policy's budget, two different
    owners must approve; the same owner twice is refused (409)."""
    campaign = approve(uow.session, campaign_id, actor(caller), svc.now())
    uow.commit()
    return detail(uow.session, campaign)


@router.post(
    "/{campaign_id}/execute",
    response_model=ExecuteOut,
    responses={**NOT_FOUND, **CONFLICT, **UNAVAILABLE},
)
def execute_campaign(campaign_id: CampaignId, svc: Svc, caller: Operator) -> ExecuteOut:
    """Grant automatic credits, issue claim links and queue one apology per offer.

    Safe to call again, or after a failure: each chunk commits whole, and a second
    call adds nothing.
    """
    result = execute(
        svc.engine,
        campaign_id,
        svc.now(),
        actor(caller),
        svc.settings.secret_key.get_secret_value(),
    )
    return ExecuteOut(granted=result.granted, offered=result.offered, messages=result.messages)


@router.post(
    "/{campaign_id}/cancel",
    response_model=CampaignOut,
    responses={**NOT_FOUND, **CONFLICT},
)
def cancel_campaign(campaign_id: CampaignId, uow: Uow, svc: Svc, caller: Operator) -> CampaignOut:
    """Cancel a draft or approved campaign; its planned offers are removed."""
    campaign = cancel(uow.session, campaign_id, svc.now(), actor(caller))
    uow.commit()
    return detail(uow.session, campaign)
