"""API keys: ``mg_<prefix>_<secret>``. The prefix finds the row; the hash proves the rest."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from makegood.access.models import ApiKey
from makegood.access.rules import KEY_ROLES, allows
from makegood.audit.service import record
from makegood.core.errors import ConflictError, InvalidInputError, NotFoundError
from makegood.db.uow import UnitOfWork
from makegood.kits.http.callers import Caller
from makegood.kits.root import Root

SCHEME = "mg"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session, owner: str, role: str, now: datetime, actor: str
) -> tuple[ApiKey, str]:
    """Make a key; returns the row and the key itself, which is never stored."""
    owner = owner.strip()
    if role not in KEY_ROLES:
        raise InvalidInputError(
            f"--role: {role!r} is not a role; choose one of {', '.join(KEY_ROLES)}"
        )
    if not owner:
        raise InvalidInputError("--owner: name the person or system the key is for")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        owner=owner,
        role=role,
        prefix=prefix,
        key_hash=_hash(secret),
        created_at=now,
        created_by=actor,
    )
    session.add(key)
    session.flush()
    record(
        session,
        at=now,
        actor=actor,
        action="api_key.created",
        object_type="api_key",
        object_id=key.id,
        after={"owner": owner, "role": role, "prefix": prefix},
    )
    return key, f"{SCHEME}_{prefix}_{secret}"


def authenticate(session: Session, presented: str) -> ApiKey | None:
    """The live key matching ``presented``, or None; the comparison is constant-time."""
    scheme, _, rest = presented.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != SCHEME or not prefix or not secret:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.key_hash, _hash(secret)):
        return None
    return key


def revoke(session: Session, key_id: int, now: datetime, actor: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFoundError(f"API key {key_id} does not exist")
    if key.revoked_at is not None:
        raise ConflictError(f"API key {key_id} was already revoked at {key.revoked_at.isoformat()}")
    key.revoked_at = now
    record(
        session,
        at=now,
        actor=actor,
        action="api_key.revoked",
        object_type="api_key",
        object_id=key.id,
        before={"revoked_at": None},
        after={"revoked_at": now.isoformat()},
    )
    session.flush()
    return key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


# A key's last use is written at most this often, not on every request.
LAST_USED_EVERY = timedelta(minutes=1)


def check_key(root: Root, presented: str) -> Caller | None:
    """The caller behind an API key (the ``API_KEYS`` port), noting when it was last used."""
    with UnitOfWork(root.engine) as uow:
        key = authenticate(uow.session, presented)
        if key is None:
            return None
        now = root.now()
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
            uow.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
            uow.commit()
        grants = frozenset(role for role in KEY_ROLES if allows(key.role, role))
        return Caller(owner=key.owner, role=key.role, key_id=key.id, grants=grants)
