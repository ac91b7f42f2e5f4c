"""Use case: register where usage data lives, after checking it fits the contract."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.sources.models import DataSource
from makegood.sources.ports import SourceCheck


@dataclass(frozen=True)
class SourceAdded:
    table: str
    path: str
    format: str
    rows: int
    replaced: str | None


def add_source(
    session: Session, table: str, path: str, now: datetime, actor: str, *, check: SourceCheck
) -> SourceAdded:
    """Check the file(s) fully (with the engine that will read them), then register
    them; a second add replaces the first."""
    absolute = os.path.abspath(os.path.expanduser(path))
    fmt, rows = check.check_source(table, absolute)
    existing = session.get(DataSource, table)
    before = None if existing is None else {"path": existing.path, "format": existing.format}
    if existing is None:
        session.add(DataSource(table_name=table, path=absolute, format=fmt, added_at=now))
    else:
        existing.path, existing.format, existing.added_at = absolute, fmt, now
    record(
        session,
        at=now,
        actor=actor,
        action="source.added",
        object_type="data_source",
        object_id=table,
        before=before,
        after={"path": absolute, "format": fmt, "rows": rows},
    )
    return SourceAdded(table, absolute, fmt, rows, None if before is None else before["path"])


def list_sources(session: Session) -> list[DataSource]:
    return list(session.scalars(select(DataSource).order_by(DataSource.table_name)))
