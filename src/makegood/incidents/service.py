"""Use cases: declare, resolve, list and show incidents."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.core.errors import ConflictError, InvalidInputError, NotFoundError
from makegood.incidents.models import Incident
from makegood.incidents.rules import (
    check_severity,
    check_summaries,
    check_window,
    clean_names,
)


@dataclass(frozen=True)
class Declaration:
    services: list[str]
    start: datetime
    end: datetime | None
    title: str
    summary: str = ""
    summaries: dict[str, str] = field(default_factory=dict)
    # For engineers only (an alert's description); never in a letter.
    notes: str = ""
    cause: str | None = None
    severity: str = "major"
    regions: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    source_ref: str | None = None


def snapshot(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "summary": incident.summary,
        "summaries": dict(incident.summaries or {}),
        "notes": incident.notes or "",
        "services": list(incident.services),
        "regions": list(incident.regions),
        "devices": list(incident.devices),
        "severity": incident.severity,
        "cause": incident.cause,
        "source_ref": incident.source_ref,
        "start": incident.start_at.isoformat(),
        "end": incident.end_at.isoformat() if incident.end_at else None,
        "declared_at": incident.declared_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
    }


def declare(session: Session, d: Declaration, now: datetime, actor: str) -> Incident:
    try:
        services = clean_names(d.services, "service", required=True)
        regions = clean_names(d.regions, "region")
        devices = clean_names(d.devices, "device")
        cause = clean_names([d.cause], "cause")[0] if d.cause else None
        severity = check_severity(d.severity)
        check_window(d.start, d.end)
        summaries = check_summaries(d.summaries)
    except ValueError as exc:
        raise InvalidInputError(f"cannot declare the incident: {exc}") from None
    if not d.title.strip():
        raise InvalidInputError("cannot declare the incident: title is empty")
    incident = Incident(
        title=d.title.strip(),
        summary=d.summary.strip(),
        summaries=summaries,
        notes=d.notes.strip(),
        services=services,
        regions=regions,
        devices=devices,
        severity=severity,
        cause=cause,
        source_ref=d.source_ref,
        start_at=d.start,
        end_at=d.end,
        declared_at=now,
        resolved_at=now if d.end is not None else None,
    )
    session.add(incident)
    session.flush()
    record(
        session,
        at=now,
        actor=actor,
        action="incident.declared",
        object_type="incident",
        object_id=incident.id,
        after=snapshot(incident),
    )
    return incident


def get(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFoundError(
            f"incident {incident_id} does not exist (see `makegood incidents list`)"
        )
    return incident


def resolve(
    session: Session, incident_id: int, end: datetime, now: datetime, actor: str
) -> Incident:
    incident = get(session, incident_id)
    if incident.end_at is not None:
        raise ConflictError(
            f"incident {incident_id} is already resolved (ended {incident.end_at.isoformat()})"
        )
    try:
        check_window(incident.start_at, end)
    except ValueError as exc:
        raise InvalidInputError(f"cannot resolve incident {incident_id}: {exc}") from None
    before = snapshot(incident)
    incident.end_at, incident.resolved_at = end, now
    record(
        session,
        at=now,
        actor=actor,
        action="incident.resolved",
        object_type="incident",
        object_id=incident.id,
        before=before,
        after=snapshot(incident),
    )
    return incident


def write_summaries(
    session: Session,
    incident_id: int,
    summary: str | None,
    summaries: dict[str, str],
    now: datetime,
    actor: str,
) -> Incident:
    """Set the summary customers read and add or replace its translations (audited)."""
    incident = get(session, incident_id)
    try:
        clean = check_summaries(summaries)
    except ValueError as exc:
        raise InvalidInputError(f"incident {incident_id}: {exc}") from None
    if summary is None and not clean:
        raise InvalidInputError(
            "give --summary, --summary-for LOCALE=TEXT or --summaries FILE: nothing to write"
        )
    before = snapshot(incident)
    if summary is not None:
        incident.summary = summary.strip()
    incident.summaries = {**dict(incident.summaries or {}), **clean}
    record(
        session,
        at=now,
        actor=actor,
        action="incident.summarized",
        object_type="incident",
        object_id=incident.id,
        before=before,
        after=snapshot(incident),
    )
    return incident


def read_summaries(path: Path) -> dict[str, str]:
    """Summaries by locale from a TOML table or a JSON object: {"de-DE": "...", ...}."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read the summaries file ({exc})") from None
    try:
        data: object = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{path}, line {exc.lineno}, column {exc.colno}: not JSON ({exc.msg})"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{path}: not TOML ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise InvalidInputError(f'{path}: expected a table of LOCALE = "summary" lines')
    for key, value in data.items():
        if not isinstance(value, str):
            raise InvalidInputError(f"{path}: {key}: the summary must be text")
    return {str(k): str(v) for k, v in data.items()}


def list_incidents(session: Session) -> list[Incident]:
    return list(session.scalars(select(Incident).order_by(Incident.start_at.desc(), Incident.id)))
