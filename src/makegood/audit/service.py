"""Audit entries are written in the caller's transaction, beside the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from makegood.audit.models import AuditEntry


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=at,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            before=before,
            after=after,
        )
    )


def entries_query(
    *,
    since: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    newest_first: bool = True,
) -> Select[AuditEntry]:
    """Audit entries matching every filter given, newest first unless asked otherwise."""
    query = select(AuditEntry)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    for column, value in (
        (AuditEntry.actor, actor),
        (AuditEntry.action, action),
        (AuditEntry.object_type, object_type),
        (AuditEntry.object_id, object_id),
    ):
        if value is not None:
            query = query.where(column == value)
    return query.order_by(AuditEntry.id.desc() if newest_first else AuditEntry.id)
