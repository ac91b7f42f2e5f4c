"""Rendering console pages: one Jinja environment, filters for money and time, the
one-time flash message, and the little state the application keeps across requests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from makegood.core.money import format_major
from makegood.kits.root import Root
from makegood.messaging.ports import RENDERER
from makegood.messaging.rendering import Renderer

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates" / "console"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "svg"]),
    auto_reload=False,
    trim_blocks=True,
    lstrip_blocks=True,
)

HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}


def when(value: datetime | None, zone: str = "UTC", fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(zone))
    return local.strftime(fmt) + ("" if zone != "UTC" else " UTC")


def money(amount_minor: int | None, currency: str | None) -> str:
    if amount_minor is None or currency is None:
        return "—"
    return f"{format_major(amount_minor, currency)} {currency}"


def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


env.filters["when"] = when
env.filters["money"] = money
env.filters["number"] = number


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """A console page; the layout gets the signed-in user and the CSRF token."""
    from makegood.console.auth import csrf_token

    html = env.get_template(template).render(
        request=request,
        user=getattr(request.state, "console_user", None),
        csrf=csrf_token(request),
        path=request.url.path,
        **values,
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


# What an impact's magnitude counts, by the rule that found it: (one, many).
UNITS = {
    "late_shipment": ("day late", "days late"),
    "failed_usage": ("failed attempt", "failed attempts"),
    "habitual_usage": ("minute", "minutes"),
}


def unit_for(rule: str, magnitude: int) -> str:
    one, many = UNITS.get(rule, ("", ""))
    return one if magnitude == 1 else many


T = TypeVar("T")


def flash(request: Request, kind: str, text: str) -> None:
    """A message for the next page this browser shows (kept in the signed session)."""
    request.session["flash"] = {"kind": kind, "text": text}


def take_flash(request: Request) -> dict[str, str] | None:
    found = request.session.pop("flash", None)
    return found if isinstance(found, dict) else None


def not_found(request: Request, message: str) -> Response:
    return page(request, "error.html", 404, title="Not found", message=message)


async def in_thread(work: Callable[[], T]) -> T:
    """Database work from an async route, off the event loop."""
    return await run_in_threadpool(work)


def renderer(svc: Root) -> Renderer:
    return svc.port(RENDERER)


# ---------------------------------------------------------------- activity data
