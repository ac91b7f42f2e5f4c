"""Use case: correct an incident after the fact (its window, services or cause).

The first campaign went out on what was known then; an amendment says what is known
now. It is audited with the before and after, and kept as an ``Amendment`` row, which
lets the next ``impact run`` replace impacts that campaigns were executed from and
record the difference (see impact/service.py), and a follow-up campaign act on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.core.errors import InvalidInputError
from makegood.incidents.models import Amendment, Incident
from makegood.incidents.rules import check_window, clean_names
from makegood.incidents.service import get, snapshot

# ``--cause none`` takes the cause away (policies match a missing cause as "none").
NO_CAUSE = "none"
AMENDABLE = ("start", "end", "services", "cause")


@dataclass(frozen=True)
class Changes:
    """What to change; None leaves a field as it is."""

    start: datetime | None = None
    end: datetime | None = None
    services: tuple[str, ...] | None = None
    cause: str | None = None


def amend(
    session: Session, incident_id: int, changes: Changes, now: datetime, actor: str
) -> Amendment:
    """Apply ``changes`` to the incident, audited; refused when nothing would change."""
    # Locked and read afresh: two amendments at once apply one after the other.
    locked = select(Incident).where(Incident.id == incident_id).with_for_update()
    incident = session.scalar(locked.execution_options(populate_existing=True))
    if incident is None:
        incident = get(session, incident_id)  # raises NotFoundError
    where = f"cannot amend incident {incident_id}"
    try:
        wanted = _wanted(incident, changes)
    except ValueError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    current = _fields(incident)
    changed = {k: v for k, v in wanted.items() if current[k] != v}
    if not changed:
        raise InvalidInputError(
            f"{where}: nothing changes (give --start, --end, --service or --cause with a "
            "value other than the incident's own)"
        )
    full_before = snapshot(incident)
    incident.start_at = wanted["start"]
    incident.end_at = wanted["end"]
    incident.services = list(wanted["services"])
    incident.cause = wanted["cause"]
    amendment = Amendment(
        incident_id=incident_id,
        at=now,
        actor=actor,
        before={k: _shown(current[k]) for k in changed},
        after={k: _shown(v) for k, v in changed.items()},
    )
    session.add(amendment)
    session.flush()
    record(
        session,
        at=now,
        actor=actor,
        action="incident.amended",
        object_type="incident",
        object_id=incident_id,
        before=full_before,
        after={**snapshot(incident), "amendment_id": amendment.id},
    )
    return amendment


def _wanted(incident: Incident, changes: Changes) -> dict[str, Any]:
    if changes.end is not None and incident.end_at is None:
        raise ValueError(
            f"it has no end yet; resolve it first (`makegood incidents resolve {incident.id}`)"
        )
    start = changes.start if changes.start is not None else incident.start_at
    end = changes.end if changes.end is not None else incident.end_at
    check_window(start, end)
    services = (
        clean_names(changes.services, "service", required=True)
        if changes.services is not None
        else list(incident.services)
    )
    cause = incident.cause
    if changes.cause is not None:
        named = clean_names([changes.cause], "cause")[0]
        cause = None if named == NO_CAUSE else named
    return {"start": start, "end": end, "services": services, "cause": cause}


def _fields(incident: Incident) -> dict[str, Any]:
    return {
        "start": incident.start_at,
        "end": incident.end_at,
        "services": list(incident.services),
        "cause": incident.cause,
    }


def _shown(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def latest_amendment(session: Session, incident_id: int) -> int | None:
    """The id of the incident's newest amendment (None: never amended)."""
    return session.scalar(
        select(func.max(Amendment.id)).where(Amendment.incident_id == incident_id)
    )


def amendments_for(session: Session, incident_id: int) -> list[dict[str, Any]]:
    """The incident's amendments, oldest first, as reports show them."""
    rows = session.scalars(
        select(Amendment).where(Amendment.incident_id == incident_id).order_by(Amendment.id)
    )
    return [
        {
            "id": a.id,
            "at": a.at.isoformat(),
            "actor": a.actor,
            "before": dict(a.before),
            "after": dict(a.after),
        }
        for a in rows
    ]
