"""Signing in: a session in a signed cookie holds the user's id and a CSRF token;
every form posts the token back, and every page checks the user's role."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from makegood.access.rules import allows
from makegood.console.models import User
from makegood.console.render import page
from makegood.console.users import authenticate, end_sessions
from makegood.db.uow import UnitOfWork
from makegood.kits.http.deps import Svc
from makegood.kits.ports import Port
from makegood.web.claim import client_address
from makegood.web.ratelimit import PerMinute

router = APIRouter(include_in_schema=False)

LOGIN_TRIES_PER_MINUTE = 10
LOGIN_LIMITER: Port[PerMinute] = Port(
    "login rate limiter", lambda _: PerMinute(LOGIN_TRIES_PER_MINUTE)
)


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    username: str
    name: str
    role: str

    def can(self, role: str) -> bool:
        return allows(self.role, role)


class NeedsLogin(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


class BadCsrf(Exception):
    pass


def csrf_token(request: Request) -> str:
    session = request.scope.get("session")
    if session is None:
        return ""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, after checking its CSRF field against the session's."""
    form = await request.form()
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise BadCsrf()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def current_user(request: Request, svc: Svc) -> ConsoleUser:
    uid = request.session.get("uid")
    user = None
    if isinstance(uid, int):
        with UnitOfWork(svc.engine) as uow:
            user = uow.session.scalar(select(User).where(User.id == uid))
    ended = user is not None and request.session.get("epoch") != user.session_epoch
    if user is None or user.disabled_at is not None or ended:
        request.session.clear()
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NeedsLogin(target)
    found = ConsoleUser(user.id, user.username, user.display_name or user.username, user.role)
    request.state.console_user = found
    return found


def requires(role: str):  # type: ignore[no-untyped-def]
    def check(user: Annotated[ConsoleUser, Depends(current_user)]) -> ConsoleUser:
        if not user.can(role):
            raise Forbidden(f"This needs the {role} role; you are signed in as {user.role}.")
        return user

    check.__name__ = f"console_requires_{role}"
    return check


ViewerUser = Annotated[ConsoleUser, Depends(requires("viewer"))]
OperatorUser = Annotated[ConsoleUser, Depends(requires("operator"))]
ApproverUser = Annotated[ConsoleUser, Depends(requires("approver"))]


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console/incidents"


@router.get("/console/login")
def login_form(request: Request, next: str = "") -> Response:
    return page(request, "login.html", next=_safe_next(next), error=None)


@router.post("/console/login")
async def login(
    request: Request,
    svc: Svc,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    await checked_form(request)
    limiter = svc.port(LOGIN_LIMITER)
    allowed, retry_after = limiter.allow(client_address(request, svc))
    if not allowed:
        refused = page(
            request,
            "login.html",
            429,
            next=_safe_next(next),
            error="Too many sign-in attempts. Wait a minute and try again.",
        )
        refused.headers["Retry-After"] = str(retry_after)
        return refused
    with UnitOfWork(svc.engine) as uow:
        user = authenticate(uow.session, username, password, svc.now())
        uow.commit()
    if user is None:
        return page(
            request,
            "login.html",
            401,
            next=_safe_next(next),
            error="That username and password do not match an active user.",
        )
    request.session.clear()  # a fresh session: nothing from before signing in carries over
    request.session["uid"] = user.id
    request.session["epoch"] = user.session_epoch
    request.session["csrf"] = secrets.token_urlsafe(32)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/console/logout")
async def logout(request: Request, svc: Svc) -> Response:
    """Sign out: this session and every other of the same user end on the server."""
    await checked_form(request)
    uid = request.session.get("uid")
    if isinstance(uid, int):
        with UnitOfWork(svc.engine) as uow:
            end_sessions(uow.session, uid)
            uow.commit()
    request.session.clear()
    return RedirectResponse("/console/login", status_code=303)


def login_redirect(exc: NeedsLogin) -> Response:
    return RedirectResponse(f"/console/login?next={quote(exc.next_path)}", status_code=303)
