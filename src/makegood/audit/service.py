"""Audit entries are written in the caller's transaction, beside the change."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from makegood.audit.models import AuditEntry
from makegood.db.bulk import db_instant, dialect


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


# The row's new status as a JSON object, built in SQL.
AFTER_STATUS = """'{"status": "' || s.status || '"}'"""


def record_transitions(
    session: Session,
    stage: str,
    *,
    object_type: str,
    key: str,
    before: str,
    at: datetime,
    actor: str,
) -> None:
    """One entry per row of the table ``stage``, set-based: object ``object_type`` with
    the id in column ``key`` moved from status ``before`` to the row's ``status``
    (action ``<object_type>.<status>``)."""
    as_json = "CAST({} AS JSON)" if dialect(session) == "postgresql" else "{}"
    session.execute(
        text(
            "INSERT INTO audit_entries (at, actor, action, object_type, object_id, before, after) "
            "SELECT :at, :actor, CAST(:type AS VARCHAR(64)) || '.' || s.status, :type, "
            f"CAST(s.{key} AS VARCHAR(40)), "
            f"{as_json.format(':before')}, "
            f"{as_json.format(AFTER_STATUS)} FROM {stage} s"
        ),
        {
            "at": db_instant(session, at),
            "actor": actor,
            "type": object_type,
            "before": json.dumps({"status": before}),
        },
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
