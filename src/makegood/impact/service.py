"""Use case: find who an incident hurt and store one impact per customer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.campaigns.models import EXECUTED_STATES, Campaign
from makegood.core.errors import ConflictError
from makegood.impact.engine import SourceRef, compute_impacts, connect
from makegood.impact.models import Impact, ImpactRun
from makegood.impact.rules import Window, load_custom_rule
from makegood.impact.store import customer_zones, replace_impacts
from makegood.incidents.models import Incident
from makegood.incidents.service import get as get_incident
from makegood.sources.service import list_sources


@dataclass(frozen=True)
class EngineOptions:
    memory_limit: str = "1GB"
    threads: int | None = None


@dataclass
class RunReport:
    incident_id: int
    confirmed: int
    possible: int
    unknown_customers: int
    rules: list[str]
    seconds: dict[str, float] = field(default_factory=dict)


def guard_not_executed(session: Session, incident_id: int) -> None:
    executed = session.scalar(
        select(Campaign.id).where(
            Campaign.incident_id == incident_id, Campaign.status.in_(EXECUTED_STATES)
        )
    )
    if executed is not None:
        raise ConflictError(
            f"incident {incident_id} already has an executed campaign ({executed}); its "
            "credits and messages were decided from these impacts, so they are kept as they are"
        )


def run_impact(
    session: Session,
    incident_id: int,
    now: datetime,
    actor: str,
    rule_files: list[Path] | None = None,
    builtin: bool = True,
    options: EngineOptions | None = None,
) -> RunReport:
    """Compute and store the incident's impacts, replacing any earlier run."""
    options = options or EngineOptions()
    incident = get_incident(session, incident_id)
    # Serialise runs for one incident: a second run waits, then replaces the first's rows.
    session.execute(select(Incident.id).where(Incident.id == incident_id).with_for_update())
    guard_not_executed(session, incident_id)
    if incident.end_at is None:
        raise ConflictError(
            f"incident {incident_id} has no end yet; resolve it first "
            f"(`makegood incidents resolve {incident_id} --end T`)"
        )
    if incident.end_at > now:
        raise ConflictError(
            f"incident {incident_id} ends at {incident.end_at.isoformat()}, after now "
            f"({now.isoformat()}); impacts can only be found once the window is over"
        )
    window = Window(
        start=incident.start_at,
        end=incident.end_at,
        now=now,
        services=tuple(incident.services),
        regions=tuple(incident.regions),
        devices=tuple(incident.devices),
    )
    custom = [load_custom_rule(path) for path in rule_files or []]
    sources = {s.table_name: SourceRef(s.path, s.format) for s in list_sources(session)}

    before = _last_run(session, incident_id)
    started = time.perf_counter()
    zones = customer_zones(session)
    loaded = time.perf_counter()
    result = compute_impacts(
        zones, sources, window, custom, builtin, connect(options.memory_limit, options.threads)
    )
    stored_from = time.perf_counter()
    replace_impacts(session, incident_id, result.impacts)
    counts = _counts(result.impacts.column("confidence"))
    session.add(
        ImpactRun(
            incident_id=incident_id,
            ran_at=now,
            rules=result.rules,
            confirmed=counts["confirmed"],
            possible=counts["possible"],
            unknown_customers=result.unknown_customers,
            query_seconds=result.seconds["query"],
        )
    )
    record(
        session,
        at=now,
        actor=actor,
        action="impact.run",
        object_type="incident",
        object_id=incident_id,
        before=before,
        after={**counts, "rules": result.rules, "unknown_customers": result.unknown_customers},
    )
    session.flush()
    done = time.perf_counter()
    seconds = {
        "load_customers": loaded - started,
        **result.seconds,
        "store": done - stored_from,
        "total": done - started,
    }
    return RunReport(
        incident_id,
        counts["confirmed"],
        counts["possible"],
        result.unknown_customers,
        result.rules,
        {k: round(v, 3) for k, v in seconds.items()},
    )


def _last_run(session: Session, incident_id: int) -> dict[str, object] | None:
    """What the run being replaced had found, for the audit log."""
    run = session.scalar(
        select(ImpactRun)
        .where(ImpactRun.incident_id == incident_id)
        .order_by(ImpactRun.id.desc())
        .limit(1)
    )
    if run is None:
        return None
    return {
        "confirmed": run.confirmed,
        "possible": run.possible,
        "rules": list(run.rules),
        "ran_at": run.ran_at.isoformat(),
    }


def _counts(confidence: object) -> dict[str, int]:
    counts = {"confirmed": 0, "possible": 0}
    for entry in pc.value_counts(confidence).to_pylist():
        counts[str(entry["values"])] = int(entry["counts"])
    return counts


def impacts_for(session: Session, incident_id: int, limit: int | None = None) -> list[Impact]:
    query = (
        select(Impact)
        .where(Impact.incident_id == incident_id)
        .order_by(Impact.confidence, Impact.magnitude.desc(), Impact.customer_id)
    )
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))
