"""Every router the application serves, in the order they appear in the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from makegood.audit import api as audit
    from makegood.billing import api as billing
    from makegood.campaigns import api as campaigns
    from makegood.credits import api as claims
    from makegood.customers import api as customers
    from makegood.impact import api as impact
    from makegood.incidents import api as incidents
    from makegood.incidents import hooks
    from makegood.messaging import api as messages
    from makegood.messaging import hooks as mail_hooks
    from makegood.reports import api as reports
    from makegood.reports import customer_record
    from makegood.web import ops

    return [
        ops.router,
        hooks.router,
        mail_hooks.router,
        customers.router,
        customer_record.router,
        incidents.router,
        impact.router,
        campaigns.router,
        claims.router,
        messages.router,
        billing.router,
        reports.router,
        audit.router,
    ]
