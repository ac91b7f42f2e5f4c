"""Console: support lookup. Find a customer by id or email, see every incident,
offer, message and ledger entry for them, and (operators) send a claim email again,
give a claim more time, or void a credit. Every change is audited as the signed-in
user and answers with a redirect back to the customer and a flash message."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from makegood.adapters.mailbox import INDEX
from makegood.billing.standing import of_entries
from makegood.campaigns.support import (
    CustomerRecord,
    customer_record,
    find_customers,
    resend_claim,
)
from makegood.console.auth import OperatorUser, ViewerUser, checked_form
from makegood.console.mailbox import received
from makegood.console.render import money, page, unit_for
from makegood.core.errors import MakegoodError, NotFoundError
from makegood.core.words import counted
from makegood.credits.models import Offer
from makegood.credits.offers import extend_deadline
from makegood.credits.service import claim_offer, void
from makegood.db.uow import UnitOfWork
from makegood.impact.models import Impact
from makegood.kits.http.deps import Svc
from makegood.kits.root import Root

router = APIRouter(include_in_schema=False)

REASON_MAX = 500
# Linking messages to the mailbox reads its whole index; past this size, don't.
INDEX_LINK_LIMIT = 20 * 1024 * 1024


def customer_path(customer_id: str) -> str:
    return f"/console/customers/{quote(customer_id, safe='')}"


def _flash(request: Request, kind: str, text: str, offer_id: int | None = None) -> None:
    request.session["flash"] = {"kind": kind, "text": text, "offer": offer_id}


def _take_flash(request: Request) -> dict[str, Any] | None:
    found = request.session.pop("flash", None)
    return found if isinstance(found, dict) else None


@router.get("/console/customers")
def search(request: Request, svc: Svc, user: ViewerUser, q: str = "") -> Response:
    query = q.strip()[:320]
    results = []
    if query:
        with UnitOfWork(svc.engine) as uow:
            results = find_customers(uow.session, query)
        if len(results) == 1:
            return RedirectResponse(customer_path(results[0].customer_id), status_code=303)
    return page(
        request,
        "customers.html",
        q=query,
        results=[(c, customer_path(c.customer_id)) for c in results],
        flash=_take_flash(request),
    )


@router.get("/console/customers/{customer_id:path}")
def customer(request: Request, svc: Svc, user: ViewerUser, customer_id: str) -> Response:
    try:
        with UnitOfWork(svc.engine) as uow:
            found = customer_record(uow.session, customer_id)
            billing = of_entries(uow.session, [e.id for e in found.ledger])
    except NotFoundError:
        return page(
            request,
            "error.html",
            404,
            title="No such customer",
            message=f"No customer has the id {customer_id!r}. Search by id or email instead.",
        )
    now = svc.now()
    flash = _take_flash(request)
    # What became of an action on an offer is said on that offer, where the page opens.
    offer_flash = flash if flash and flash.get("offer") else None
    return page(
        request,
        "customer.html",
        c=found.customer,
        now=now,
        balance=_balance(found),
        incidents=[_touch(t.incident, t.impact) for t in found.incidents],
        offers=[_offer(o, found, now) for o in found.offers],
        messages=found.messages,
        mailbox=_mailbox_files(svc.settings.mailbox_dir),
        ledger=found.ledger,
        billing=billing,
        titles={t.incident.id: t.incident.title for t in found.incidents},
        can_act=user.can("operator"),
        flash=None if offer_flash else flash,
        offer_flash=offer_flash,
    )


# --- what the customer page shows ----------------------------------------------------


def _balance(found: CustomerRecord) -> list[tuple[str, int]]:
    """Balance per currency; a customer with no credits shows zero in their own."""
    sums = dict(found.balance)
    if not sums:
        sums[found.customer.currency] = 0
    return sorted(sums.items())


@dataclass(frozen=True)
class Finding:
    rule: str
    fields: list[tuple[str, str]]
    tables: list[tuple[str, list[str], list[list[str]]]]


def _touch(incident: Any, impact: Impact | None) -> dict[str, Any]:
    unit = unit_for(impact.rule, impact.magnitude) if impact else ""
    return {
        "incident": incident,
        "impact": impact,
        "magnitude": f"{impact.magnitude:,} {unit}".strip() if impact else "",
        "evidence": evidence(impact.evidence) if impact else [],
        "raw": impact.evidence if impact else "",
    }


def evidence(text: str) -> list[Finding]:
    """Impact evidence (a JSON list of findings) as labelled fields and tables."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return []
    out = []
    for item in parsed if isinstance(parsed, list) else [parsed]:
        if not isinstance(item, dict):
            out.append(Finding("", [("value", _shown(item))], []))
            continue
        fields, tables = [], []
        for key, value in item.items():
            if key == "rule":
                continue
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                columns = list(dict.fromkeys(k for row in value for k in row))
                rows = [[_shown(row.get(c)) for c in columns] for row in value]
                tables.append((_label(key), [_label(c) for c in columns], rows))
            else:
                fields.append((_label(key), _shown(value)))
        out.append(Finding(str(item.get("rule", "")), fields, tables))
    return out


def _label(key: str) -> str:
    return str(key).replace("_", " ")


def _shown(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and value[10:11] in " T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def _offer(offer: Offer, found: CustomerRecord, now: datetime) -> dict[str, Any]:
    ran_out = offer.expires_at is not None and offer.expires_at <= now
    state = "expired" if offer.status == "offered" and ran_out else offer.status
    extendable = offer.status in ("offered", "expired") and offer.expires_at is not None
    suggested = max(offer.expires_at or now, now) + timedelta(days=7)
    return {
        "offer": offer,
        "state": state,
        "amount": money(offer.amount_minor, offer.currency),
        "can_resend": offer.status == "offered" and not ran_out,
        "can_extend": extendable,
        "can_void": offer.status in ("granted", "offered", "claimed"),
        "suggested": suggested.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M"),
        "earliest": now.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M"),
        "zone": found.customer.timezone,
    }


def _mailbox_files(directory: Path) -> dict[str, str]:
    """Message-ID → mailbox file, when the built-in sink keeps mail here."""
    index = directory / INDEX
    try:
        if not index.is_file() or index.stat().st_size > INDEX_LINK_LIMIT:
            return {}
    except OSError:
        return {}
    return {str(item.get("message_id", "")): str(item["file"]) for item in received(directory)}


# --- actions -----------------------------------------------------------------------


@router.post("/console/offers/{offer_id}/resend")
async def resend(request: Request, svc: Svc, user: OperatorUser, offer_id: int) -> Response:
    await checked_form(request)

    def act(session: Session) -> str:
        done = resend_claim(
            session, offer_id, svc.now(), user.username, svc.settings.secret_key.get_secret_value()
        )
        replaced = (
            f" {counted(len(done.messages_replaced), 'earlier email')} still waiting "
            "will not be sent."
            if done.messages_replaced
            else ""
        )
        return (
            f"A new claim email for offer #{offer_id} is queued as message #{done.message_id}. "
            f"The link in earlier emails no longer works.{replaced}"
        )

    return await _act(request, svc, offer_id, act)


@router.post("/console/offers/{offer_id}/claim")
async def claim_for(request: Request, svc: Svc, user: OperatorUser, offer_id: int) -> Response:
    """Claim an open offer for a customer who asked support (audited as support:USER)."""
    await checked_form(request)

    def act(session: Session) -> str:
        done = claim_offer(session, offer_id, svc.now(), f"support:{user.username}")
        if done.status != "claimed":
            raise MakegoodError(f"Offer #{offer_id} cannot be claimed: it is {done.status}.")
        amount = money(int(done.amount_minor or 0), str(done.currency))
        return f"Offer #{offer_id} is claimed: {amount} goes on the customer's next statement."

    return await _act(request, svc, offer_id, act)


@router.post("/console/offers/{offer_id}/extend")
async def extend(request: Request, svc: Svc, user: OperatorUser, offer_id: int) -> Response:
    form = await checked_form(request)

    def act(session: Session) -> str:
        deadline = _utc_input(form.get("deadline", ""))
        offer = extend_deadline(session, offer_id, deadline, svc.now(), user.username)
        shown = deadline.strftime("%Y-%m-%d %H:%M UTC")
        return f"Offer #{offer.id} can now be claimed until {shown}."

    return await _act(request, svc, offer_id, act)


@router.post("/console/offers/{offer_id}/void")
async def void_offer(request: Request, svc: Svc, user: OperatorUser, offer_id: int) -> Response:
    form = await checked_form(request)

    def act(session: Session) -> str:
        reason = " ".join(form.get("reason", "").split())
        if not reason:
            raise MakegoodError("Say why the credit is voided; the reason is kept in the ledger.")
        if len(reason) > REASON_MAX:
            raise MakegoodError(f"Keep the reason under {REASON_MAX} characters.")
        if form.get("confirm") != "yes":
            raise MakegoodError("Tick the box to confirm the credit is to be voided.")
        was = session.scalar(select(Offer.status).where(Offer.id == offer_id))
        offer = void(session, offer_id, reason, svc.now(), user.username)
        amount = money(offer.amount_minor, offer.currency)
        if was in ("granted", "claimed"):
            return f"Offer #{offer.id} is voided and {amount} is reversed on the ledger."
        return f"Offer #{offer.id} is voided; its claim link no longer applies a credit."

    return await _act(request, svc, offer_id, act)


def _utc_input(text: str) -> datetime:
    """A datetime-local field (the form says UTC); an offset, if typed, is kept."""
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MakegoodError(
            f"New deadline: {value!r} is not a date and time like 2026-03-26T18:00."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))


async def _act(
    request: Request, svc: Root, offer_id: int, action: Callable[[Session], str]
) -> Response:
    """Run one change in its own transaction; flash what came of it and go back."""

    def run() -> tuple[str | None, str, str]:
        with UnitOfWork(svc.engine) as uow:
            customer_id = uow.session.scalar(select(Offer.customer_id).where(Offer.id == offer_id))
            if customer_id is None:
                return None, "", ""
            try:
                said = action(uow.session)
                uow.commit()
            except MakegoodError as exc:
                return customer_id, "error", exc.message
            return customer_id, "ok", said

    customer_id, kind, text = await run_in_threadpool(run)
    if customer_id is None:
        return page(
            request, "error.html", 404, title="No such offer", message=f"Offer {offer_id} is gone."
        )
    _flash(request, kind, text, offer_id)
    return RedirectResponse(f"{customer_path(customer_id)}#offer-{offer_id}", status_code=303)
