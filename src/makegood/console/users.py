"""Console users: made with ``makegood users add``, passwords hashed with argon2id."""

from __future__ import annotations

import re
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from makegood.access.rules import ROLES
from makegood.audit.service import record
from makegood.console.models import User
from makegood.core.errors import ConflictError, InvalidInputError, NotFoundError

MIN_PASSWORD = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths take as long.
_DECOY = hasher.hash("makegood-decoy-password")


def add_user(
    session: Session,
    username: str,
    role: str,
    password: str,
    now: datetime,
    actor: str,
    display_name: str = "",
) -> User:
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise InvalidInputError(
            f"USERNAME: use 2-64 lower-case letters, digits, '.', '_' or '-' (got {username!r})"
        )
    if role not in ROLES:
        raise InvalidInputError(f"--role: {role!r} is not a role; choose one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise InvalidInputError(f"password: use at least {MIN_PASSWORD} characters")
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise ConflictError(f"USERNAME: a user named {name!r} already exists")
    user = User(
        username=name,
        display_name=display_name.strip() or name,
        role=role,
        password_hash=hasher.hash(password),
        created_at=now,
        created_by=actor,
    )
    session.add(user)
    session.flush()
    record(
        session,
        at=now,
        actor=actor,
        action="user.added",
        object_type="user",
        object_id=user.id,
        after={"username": name, "role": role},
    )
    return user


def authenticate(session: Session, username: str, password: str, now: datetime) -> User | None:
    """The enabled user with this name and password, or None (in about the same time)."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    try:
        hasher.verify(user.password_hash if user else _DECOY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled_at is not None:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_login_at = now
    return user


def end_sessions(session: Session, user_id: int) -> None:
    """Every session the user has ends: the epoch its cookies carry moves on."""
    session.execute(
        update(User).where(User.id == user_id).values(session_epoch=User.session_epoch + 1)
    )


def disable(session: Session, username: str, now: datetime, actor: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFoundError(f"USERNAME: no user named {username!r}")
    if user.disabled_at is None:
        user.disabled_at = now
        record(
            session,
            at=now,
            actor=actor,
            action="user.disabled",
            object_type="user",
            object_id=user.id,
            before={"disabled_at": None},
            after={"disabled_at": now.isoformat()},
        )
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))
