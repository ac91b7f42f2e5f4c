"""What a request needs: the app's root (settings, clock, engine, ports), a unit of
work, and who is calling, with the role the route requires.

API keys are the access domain's; it fills the ``API_KEYS`` port with a check that
answers the caller behind a presented key (or None), and which roles that caller may
act as. ``kits.http.keys.KeyFirst`` runs that check before a route reads its body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from makegood.db.uow import UnitOfWork
from makegood.kits.http.callers import Caller
from makegood.kits.http.errors import ApiError
from makegood.kits.http.keys import NO_KEY
from makegood.kits.root import Root


def services(request: Request) -> Root:
    found: Root = request.app.state.makegood
    return found


Svc = Annotated[Root, Depends(services)]


def unit_of_work(svc: Svc) -> Iterator[UnitOfWork]:
    with UnitOfWork(svc.engine) as uow:
        yield uow


Uow = Annotated[UnitOfWork, Depends(unit_of_work)]

bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `makegood keys create`, sent as 'Authorization: Bearer mg_...'",
)


def _caller(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],  # the API's schema
) -> Caller:
    """The caller ``KeyFirst`` found before the body was read (kits.http.keys): the one
    place a key is checked. A route outside its reach has no caller, and is refused."""
    checked = getattr(request.state, "caller", None)
    if not isinstance(checked, Caller):
        raise ApiError(401, "unauthorized", NO_KEY)
    return checked


def requires(role: str) -> Callable[..., Caller]:
    """A dependency that lets in callers whose role is ``role`` or above."""

    def check(caller: Annotated[Caller, Depends(_caller)]) -> Caller:
        if role not in caller.grants:
            raise ApiError(
                403, "forbidden", f"this needs the {role} role; the key's role is {caller.role}"
            )
        return caller

    check.__name__ = f"requires_{role}"
    return check


Viewer = Annotated[Caller, Depends(requires("viewer"))]
Operator = Annotated[Caller, Depends(requires("operator"))]
Approver = Annotated[Caller, Depends(requires("approver"))]
Admin = Annotated[Caller, Depends(requires("admin"))]
Claims = Annotated[Caller, Depends(requires("claims"))]


def actor(caller: Caller) -> str:
    """How a caller appears in the audit log and in approvals."""
    return caller.owner
