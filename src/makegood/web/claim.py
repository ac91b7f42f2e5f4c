"""The customer's claim page: ``GET /claim/{token}`` shows the offer and changes
nothing (mail scanners open links); its one button POSTs back with a CSRF field tied
to the token, and the credit is applied by one conditional update.

Answers: 200 with the offer; 303 to the confirmation (200) after a claim; 200 saying
when for a credit already claimed; 410 for an ended or withdrawn offer, with the
deadline and the support phone; 404 for a token never issued or altered, saying
nothing about why; 403 for a POST without a valid CSRF field; 429 when one address
tries too often.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel.dates import get_datetime_format
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.pool import QueuePool

from makegood.core.tokens import required_key
from makegood.credits.service import ClaimView, claim, claim_in_one_statement, look
from makegood.db.uow import UnitOfWork
from makegood.kits.http.deps import Svc, services
from makegood.kits.ports import Port
from makegood.kits.root import Root
from makegood.messaging import wording
from makegood.messaging.letters import money, support_phone, what_failed
from makegood.web.ratelimit import PerMinute
from makegood.web.words import negotiate, page_locale, text_direction, words_for

TEMPLATES = Path(__file__).resolve().parent / "templates"
env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)

router = APIRouter(include_in_schema=False)

NO_STORE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the address
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def csrf_for(secret_key: str, token: str) -> str:
    """The form field that proves a POST came from the page served for ``token``."""
    secret_key = required_key(secret_key, "to sign the claim forms")
    key = hashlib.sha256(b"makegood-claim-csrf\x00" + secret_key.encode()).digest()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def client_address(request: Request, svc: Root) -> str:
    """Who is asking, for the rate limits: the connection's peer; behind a proxy you run
    (``[web] trust_forwarded_for``), the address that proxy saw, which is the last one
    in X-Forwarded-For: the ones before it are whatever the client chose to send."""
    if svc.settings.web.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.client.host if request.client else "unknown"


class TooMany(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


CLAIM_LIMITER: Port[PerMinute] = Port(
    "claim page rate limiter", lambda root: PerMinute(root.settings.web.claim_rate_per_minute)
)


def limited(request: Request, svc: Svc) -> None:
    limiter = svc.port(CLAIM_LIMITER)
    ok, retry_after = limiter.allow(client_address(request, svc))
    if not ok:
        raise TooMany(retry_after)


def _local(moment: datetime, view: ClaimView) -> str:
    day = moment.astimezone(ZoneInfo(view.timezone)).date()
    time = wording.local_time(moment, view.timezone, view.locale)
    # The locale's own way of joining a date and a time: "{1}, {0}" in English,
    # "{1} {0}" in Japanese.
    joined = str(get_datetime_format("full", locale=wording.babel_locale(view.locale)))
    return joined.replace("{1}", wording.full_date(day, view.locale)).replace("{0}", time)


def page(
    template: str,
    status: int,
    tag: str,
    company: str,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    words = words_for(tag)
    html = env.get_template(template).render(
        lang=tag,
        dir=text_direction(tag),
        w={k: v.replace("{company}", company) for k, v in words.items()},
        company=company,
        **values,
    )
    return HTMLResponse(html, status_code=status, headers={**NO_STORE, **(headers or {})})


def _what_failed(view: ClaimView, tag: str, default_locale: str) -> str:
    """The same sentence the letter gave, in the page's language only."""
    if view.incident_start is None:  # pragma: no cover - every incident has a start
        return ""
    return what_failed(
        tag,
        view.timezone,
        summary=view.incident_summary,
        summaries=view.incident_summaries,
        services=view.incident_services,
        start=view.incident_start,
        end=view.incident_end,
        default_locale=default_locale,
    )


def _offer_page(svc: Root, token: str, view: ClaimView, just_claimed: bool) -> HTMLResponse:
    company = svc.settings.company
    tag = page_locale(view.locale, company.default_locale)
    phone = support_phone(company, view.country)
    amount = money(view.amount_minor, view.currency, tag)
    statement = wording.long_date(view.statement_date, tag)
    deadline = _local(view.expires_at, view) if view.expires_at else ""
    common: dict[str, Any] = {
        "amount": amount,
        "statement": statement,
        "deadline": deadline,
        "phone": phone,
        "first_name": view.first_name,
        "summary": _what_failed(view, tag, company.default_locale),
    }
    if view.status == "offered":
        return page(
            "claim.html",
            200,
            tag,
            company.name,
            state="offer",
            csrf=csrf_for(svc.settings.secret_key.get_secret_value(), token),
            action=f"/claim/{token}",
            account_url=company.account_url,
            **common,
        )
    if view.status == "claimed":
        when = _local(view.claimed_at, view) if view.claimed_at else ""
        state = "done" if just_claimed else "already"
        return page("claim.html", 200, tag, company.name, state=state, when=when, **common)
    return page("claim.html", 410, tag, company.name, state=view.status, **common)


def unknown_page(request: Request, svc: Root) -> HTMLResponse:
    tag = negotiate(request.headers.get("accept-language"))
    return page("notice.html", 404, tag, svc.settings.company.name, state="unknown")


@router.get("/claim/{token}", response_class=HTMLResponse)
def show(
    token: str,
    request: Request,
    svc: Svc,
    _: Annotated[None, Depends(limited)],
    claimed: int = 0,
) -> Response:
    with UnitOfWork(svc.engine) as uow:
        view = look(uow.session, token, svc.now())
    if view is None:
        return unknown_page(request, svc)
    return _offer_page(svc, token, view, just_claimed=bool(claimed))


@router.get("/c/{token}", include_in_schema=False)
def short_link(token: str, _: Annotated[None, Depends(limited)]) -> Response:
    """The claim link as a text message carries it: the same token behind a shorter
    path, sent on to the claim page (which does the looking up)."""
    return RedirectResponse(f"/claim/{quote(token, safe='')}", status_code=308, headers=NO_STORE)


def _claim_threads(svc: Root) -> ThreadPoolExecutor:
    """Claims run in threads of their own, at most as many at once as the engine's pool
    keeps connections: more would each open (and close) a connection of their own, and
    only queue for the database and the interpreter."""
    return svc.port(CLAIM_THREADS)


def _threads(root: Root) -> ThreadPoolExecutor:
    size = root.engine.pool.size() if isinstance(root.engine.pool, QueuePool) else 1
    return ThreadPoolExecutor(max(size, 1), thread_name_prefix="claim")


CLAIM_THREADS: Port[ThreadPoolExecutor] = Port("claim threads", _threads)


def _confirm(svc: Root, token: str, request: Request) -> Response:
    """Claim (in a claim thread): the redirect, or the page saying why not."""
    now = svc.now()
    if svc.engine.dialect.name == "postgresql":
        # There a claim is one statement, a transaction of its own: no BEGIN and
        # COMMIT round trips around it, and no ORM session.
        with svc.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            outcome = claim_in_one_statement(conn, token, now)
    else:
        with UnitOfWork(svc.engine) as uow:
            outcome = claim(uow.session, token, now)
            uow.commit()
    if outcome.status == "claimed":
        return RedirectResponse(f"/claim/{token}?claimed=1", status_code=303, headers=NO_STORE)
    with UnitOfWork(svc.engine) as uow:
        view = look(uow.session, token, svc.now())
    if view is None:
        return unknown_page(request, svc)
    return _offer_page(svc, token, view, just_claimed=False)


@router.post("/claim/{token}", response_class=HTMLResponse)
async def confirm(
    token: str,
    request: Request,
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    # The services and the rate limit are taken here rather than as dependencies:
    # FastAPI runs a plain-function dependency in a worker thread of its own, and
    # this route's only blocking work is the claim.
    svc = services(request)
    limited(request, svc)
    expected = csrf_for(svc.settings.secret_key.get_secret_value(), token)
    if not csrf or not hmac.compare_digest(csrf, expected):
        tag = negotiate(request.headers.get("accept-language"))
        return page("notice.html", 403, tag, svc.settings.company.name, state="forbidden")
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_claim_threads(svc), _confirm, svc, token, request)


def too_many(request: Request, exc: TooMany, company: str) -> HTMLResponse:
    tag = negotiate(request.headers.get("accept-language"))
    return page(
        "notice.html",
        429,
        tag,
        company,
        headers={"Retry-After": str(exc.retry_after)},
        state="limited",
    )
