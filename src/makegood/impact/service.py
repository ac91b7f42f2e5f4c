"""Use case: find who an incident hurt and store one impact per customer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.core.errors import ConflictError
from makegood.customers import snapshot
from makegood.impact import changes
from makegood.impact.models import Impact, ImpactRun
from makegood.impact.ports import (
    EXECUTED_CAMPAIGNS,
    IMPACT_ENGINES,
    EngineResult,
    ExecutedCampaigns,
    ImpactEngine,
    ImpactJob,
    SourceRef,
)
from makegood.impact.rules import Window, load_custom_rule
from makegood.impact.store import replace_impacts
from makegood.incidents.amend import latest_amendment
from makegood.incidents.models import Incident
from makegood.incidents.service import get as get_incident
from makegood.kits.root import Root
from makegood.sources.service import list_sources


@dataclass
class RunReport:
    incident_id: int
    confirmed: int
    possible: int
    unknown_customers: int
    rules: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    # After an amendment: how many customers were newly affected (added), no longer
    # affected (removed), or affected differently (magnitude, confidence).
    changes: dict[str, int] | None = None


def run_impact(
    session: Session,
    incident_id: int,
    now: datetime,
    actor: str,
    rule_files: list[Path] | None = None,
    builtin: bool = True,
    *,
    engine: ImpactEngine,
    executed: ExecutedCampaigns,
    snapshots: Path | None = None,
) -> RunReport:
    """Compute and store the incident's impacts with ``engine``, replacing any earlier
    run. Once ``executed`` names a campaign executed from them, only a run after a new
    amendment of the incident may replace them; a run after an amendment keeps the
    difference (impact/changes.py). The customers come from a snapshot in
    ``snapshots`` when one is current (customers/snapshot.py)."""
    _refuse_early(session, get_incident(session, incident_id), now, executed)
    custom = [load_custom_rule(path) for path in rule_files or []]
    started = time.perf_counter()
    # Before this transaction writes or locks anything, so the customers can be read
    # beside it, in its snapshot (the fast way).
    zones = snapshot.current(session, snapshots)
    loaded = time.perf_counter()
    incident = _runnable(session, incident_id, now, executed)
    sources = {s.table_name: SourceRef(s.path, s.format) for s in list_sources(session)}
    before = _last_run(session, incident_id)
    amendment = latest_amendment(session, incident_id)
    compare = before is not None and amendment is not None and amendment != before["amendment"]
    result = engine.compute(ImpactJob(zones, sources, _window(incident, now), custom, builtin))
    stored_from = time.perf_counter()
    if compare:
        changes.keep_prior(session, incident_id)
    counts = replace_impacts(session, incident_id, result.impacts)
    run = _log_run(session, incident_id, now, actor, before, counts, result, amendment)
    differences = changes.record_changes(session, run.id, incident_id) if compare else None
    if differences is not None:
        _log_changes(session, incident_id, now, actor, run.id, differences)
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
        differences,
    )


def run_for(
    root: Root,
    session: Session,
    incident_id: int,
    now: datetime,
    actor: str,
    rule_files: list[Path] | None = None,
    builtin: bool = True,
    engine: str | None = None,
) -> RunReport:
    """``run_impact`` with the engine and the executed-campaign check the root binds
    (``engine`` names another installed engine than the setting's)."""
    return run_impact(
        session,
        incident_id,
        now,
        actor,
        rule_files,
        builtin,
        engine=root.port(IMPACT_ENGINES).engine(engine),
        executed=root.port(EXECUTED_CAMPAIGNS),
        snapshots=root.settings.cache_dir,
    )


def _runnable(
    session: Session, incident_id: int, now: datetime, executed: ExecutedCampaigns
) -> Incident:
    """The incident, locked, once its window is over and nothing was executed from it."""
    incident = get_incident(session, incident_id)
    # Serialise runs for one incident: a second run waits, then replaces the first's rows.
    session.execute(select(Incident.id).where(Incident.id == incident_id).with_for_update())
    _refuse_early(session, incident, now, executed)
    return incident


def _refuse_early(
    session: Session, incident: Incident, now: datetime, executed: ExecutedCampaigns
) -> None:
    """Refuse a run whose answer could not be used, before any costly work."""
    incident_id = incident.id
    campaign = executed.executed_campaign(session, incident_id)
    if campaign is not None and not _amended_since_last_run(session, incident_id):
        raise ConflictError(
            f"incident {incident_id} already has an executed campaign ({campaign}); its "
            "credits and messages were decided from these impacts, so they are kept as they "
            "are. If the incident was not as declared, correct it first (`makegood incidents "
            f"amend {incident_id} ...`); a run after that finds the difference"
        )
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


def _amended_since_last_run(session: Session, incident_id: int) -> bool:
    last = _last_run(session, incident_id)
    amendment = latest_amendment(session, incident_id)
    return amendment is not None and (last is None or last["amendment"] != amendment)


def _window(incident: Incident, now: datetime) -> Window:
    assert incident.end_at is not None
    return Window(
        start=incident.start_at,
        end=incident.end_at,
        now=now,
        services=tuple(incident.services),
        regions=tuple(incident.regions),
        devices=tuple(incident.devices),
    )


def _log_run(
    session: Session,
    incident_id: int,
    now: datetime,
    actor: str,
    before: dict[str, object] | None,
    counts: dict[str, int],
    result: EngineResult,
    amendment: int | None,
) -> ImpactRun:
    run = ImpactRun(
        incident_id=incident_id,
        ran_at=now,
        rules=result.rules,
        confirmed=counts["confirmed"],
        possible=counts["possible"],
        unknown_customers=result.unknown_customers,
        query_seconds=result.seconds["query"],
        amendment_id=amendment,
    )
    session.add(run)
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
    return run


def _log_changes(
    session: Session,
    incident_id: int,
    now: datetime,
    actor: str,
    run_id: int,
    differences: dict[str, int],
) -> None:
    record(
        session,
        at=now,
        actor=actor,
        action="impact.changed",
        object_type="incident",
        object_id=incident_id,
        after={"run_id": run_id, **differences},
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
        "amendment": run.amendment_id,
    }


def impacts_for(session: Session, incident_id: int, limit: int | None = None) -> list[Impact]:
    query = (
        select(Impact)
        .where(Impact.incident_id == incident_id)
        .order_by(Impact.confidence, Impact.magnitude.desc(), Impact.customer_id)
    )
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def impact_counts(session: Session, incident_id: int) -> dict[str, int]:
    """How many customers the incident hurt, by confidence (0s when none)."""
    return impact_counts_for(session, [incident_id]).get(
        incident_id, {"confirmed": 0, "possible": 0}
    )


def impact_counts_for(session: Session, incident_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """``impact_counts`` for several incidents, in one query."""
    rows = session.execute(
        select(Impact.incident_id, Impact.confidence, func.count())
        .where(Impact.incident_id.in_(incident_ids))
        .group_by(Impact.incident_id, Impact.confidence)
    ).all()
    counts = {i: {"confirmed": 0, "possible": 0} for i in incident_ids}
    for incident_id, confidence, n in rows:
        counts[incident_id][str(confidence)] = int(n)
    return counts


class Figures:
    """The ``ImpactFigures`` incidents show."""

    def counts(self, session: Session, incident_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        return impact_counts_for(session, incident_ids)

    def sample(self, session: Session, incident_id: int, limit: int) -> list[dict[str, Any]]:
        return [
            {
                "customer_id": i.customer_id,
                "confidence": i.confidence,
                "magnitude": i.magnitude,
                "rule": i.rule,
            }
            for i in impacts_for(session, incident_id, limit=limit)
        ]
