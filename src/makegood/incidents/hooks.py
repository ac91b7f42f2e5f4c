"""Webhooks in: Prometheus Alertmanager opens and ends incidents.

Alertmanager authenticates with a shared bearer token (``[web] alertmanager_token``,
``MAKEGOOD_WEB__ALERTMANAGER_TOKEN``), not an API key: its configuration holds one
secret for one receiver, and the hook can do nothing but what alerts ask.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from makegood.incidents import alerts
from makegood.kits.http.deps import Svc
from makegood.kits.http.errors import ErrorResponse
from makegood.kits.http.hooks import REFUSALS, bearer, require_token

router = APIRouter(prefix="/api/hooks", tags=["hooks"])

token_bearer = bearer(
    "AlertmanagerToken",
    "MAKEGOOD_WEB__ALERTMANAGER_TOKEN",
    "Alertmanager's http_config.authorization",
)


class AlertHookResult(BaseModel):
    """What one Alertmanager notification changed."""

    opened: list[int] = Field(description="Incidents this notification opened, by id.")
    resolved: list[int] = Field(description="Incidents whose end this notification set, by id.")
    unchanged: int = Field(
        description="Alerts naming a makegood service that changed nothing: "
        "repeats of notifications already handled."
    )
    ignored: int = Field(description="Alerts without a makegood_service label.")


def _alertmanager(
    svc: Svc,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(token_bearer)],
) -> None:
    require_token(
        credentials,
        svc.settings.web.alertmanager_token.get_secret_value(),
        off="the Alertmanager hook is off: set MAKEGOOD_WEB__ALERTMANAGER_TOKEN "
        "(or alertmanager_token under [web] in makegood.toml) and send it as "
        "'Authorization: Bearer <token>'",
        wrong="send the Alertmanager token as 'Authorization: Bearer <token>'",
    )


@router.post(
    "/alertmanager",
    response_model=AlertHookResult,
    dependencies=[Depends(_alertmanager)],
    responses={
        **REFUSALS,
        422: {
            "model": ErrorResponse,
            "description": "The notification is not Alertmanager's format; `field` names "
            "the place, e.g. `alerts.0.startsAt`",
        },
        503: {"model": ErrorResponse, "description": "No Alertmanager token is configured"},
    },
)
def alertmanager(payload: alerts.AlertmanagerPayload, svc: Svc) -> AlertHookResult:
    """Receive an Alertmanager webhook notification (payload version 4).

    A firing alert with a `makegood_service` label (several services separated by
    commas) opens one incident per alert fingerprint, however often it is delivered;
    its resolved notification sets that incident's end once. Optional labels:
    `makegood_region` (comma-separated), `makegood_cause`, `severity`. The title is
    the `summary` annotation (else `alertname`), the summary the `makegood_summary`
    annotation (else `description`). Alerts without the label are counted as ignored.
    """
    parsed = alerts.parse(payload.alerts)
    outcome = alerts.receive(svc.engine, parsed, svc.now())
    return AlertHookResult(
        opened=outcome.opened,
        resolved=outcome.resolved,
        unchanged=outcome.unchanged,
        ignored=outcome.ignored,
    )
