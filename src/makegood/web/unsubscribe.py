"""One-click unsubscribe (RFC 8058) at ``{base_url}/unsubscribe/{token}``.

A mail client's "unsubscribe" POSTs ``List-Unsubscribe=One-Click`` there, with no
cookie and no form of ours: the token (a MAC of the customer's id under the secret
key) is the authority, and the POST unsubscribes at once and answers 200. A GET only
shows a page with the same button, and changes nothing: mail scanners open links.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from makegood.core.tokens import unsubscribe_customer
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from makegood.kits.http.deps import Svc
from makegood.kits.root import Root
from makegood.messaging.unsubscribe import unsubscribe
from makegood.web.claim import limited, page, unknown_page
from makegood.web.words import page_locale

router = APIRouter(include_in_schema=False)


def _customer(svc: Root, token: str) -> tuple[str, str] | None:
    """(customer_id, locale) of a genuine token for a customer makegood still knows."""
    customer_id = unsubscribe_customer(svc.settings.secret_key.get_secret_value(), token)
    if customer_id is None:
        return None
    with UnitOfWork(svc.engine) as uow:
        locale = uow.session.scalar(
            select(Customer.locale).where(Customer.customer_id == customer_id)
        )
    return None if locale is None else (customer_id, locale)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def ask(token: str, request: Request, svc: Svc, _: Annotated[None, Depends(limited)]) -> Response:
    found = _customer(svc, token)
    if found is None:
        return unknown_page(request, svc)
    company = svc.settings.company
    tag = page_locale(found[1], company.default_locale)
    return page("unsubscribe.html", 200, tag, company.name, state="ask", action=request.url.path)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def one_click(
    token: str, request: Request, svc: Svc, _: Annotated[None, Depends(limited)]
) -> Response:
    found = _customer(svc, token)
    if found is None:
        return unknown_page(request, svc)
    with UnitOfWork(svc.engine) as uow:
        unsubscribe(uow.session, found[0], svc.now(), "one-click")
        uow.commit()
    company = svc.settings.company
    tag = page_locale(found[1], company.default_locale)
    return page("unsubscribe.html", 200, tag, company.name, state="done")
