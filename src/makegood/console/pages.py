"""Every router of the console, in one place."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from makegood.console import campaign_page, incident_page, incidents, mailbox, support

    return [
        incidents.router,
        incident_page.router,
        campaign_page.router,
        support.router,
        mailbox.router,
    ]
