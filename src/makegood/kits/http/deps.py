"""What a request needs: the app's root (settings, clock, engine, ports), a unit of
work, and who is calling, with the role the route requires.

API keys are the access domain's; it fills the ``API_KEYS`` port with a check that
answers the caller behind a presented key (or None), and which roles that caller may
act as.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from makegood.db.uow import UnitOfWork
from makegood.kits.http.callers import API_KEYS, Caller
from makegood.kits.http.errors import ApiError
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
    svc: Svc,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    checked = getattr(request.state, "caller", None)
    if isinstance(checked, Caller):  # checked before the body was read (kits.http.keys)
        return checked
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    caller = svc.port(API_KEYS)(svc, credentials.credentials)
    if caller is None:
        raise ApiError(401, "unauthorized", "the API key is not valid or was revoked")
    return caller


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


def actor(caller: Caller) -> str:
    """How a caller appears in the audit log and in approvals."""
    return caller.owner
