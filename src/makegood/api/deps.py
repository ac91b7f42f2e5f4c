"""What a request needs: the app's services, a unit of work, and who is calling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, update

from makegood.access.models import ApiKey
from makegood.access.rules import allows
from makegood.access.service import Caller, authenticate
from makegood.config import Settings
from makegood.core.clock import Clock
from makegood.db.uow import UnitOfWork
from makegood.kits.http.errors import ApiError

# A key's last use is written at most this often, not on every request.
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass
class Services:
    """Built once per application and shared by every request."""

    settings: Settings
    engine: Engine
    clock: Clock
    extras: dict[str, object] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock.now()


def services(request: Request) -> Services:
    found: Services = request.app.state.makegood
    return found


Svc = Annotated[Services, Depends(services)]


def unit_of_work(svc: Svc) -> Iterator[UnitOfWork]:
    with UnitOfWork(svc.engine) as uow:
        yield uow


Uow = Annotated[UnitOfWork, Depends(unit_of_work)]

bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `makegood keys create`, sent as 'Authorization: Bearer mg_...'",
)


def _caller(
    svc: Svc,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    with UnitOfWork(svc.engine) as uow:
        key = authenticate(uow.session, credentials.credentials)
        if key is None:
            raise ApiError(401, "unauthorized", "the API key is not valid or was revoked")
        now = svc.now()
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
            uow.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
            uow.commit()
        return Caller(owner=key.owner, role=key.role, key_id=key.id)


def requires(role: str) -> Callable[..., Caller]:
    """A dependency that lets in callers whose role is ``role`` or above."""

    def check(caller: Annotated[Caller, Depends(_caller)]) -> Caller:
        if not allows(caller.role, role):
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
