"""The difference an impact run after an amendment made: who is newly affected, who
no longer is, whose magnitude or confidence changed. The run keeps the impacts it is
about to replace in a temporary table, then compares them set-based with the new
ones and stores one ``impact_changes`` row per customer that differs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from makegood.impact.models import CHANGES, ImpactChange

PRIOR = "prior_impacts"


def keep_prior(session: Session, incident_id: int) -> None:
    """The incident's impacts as they are now, kept aside for ``record_changes``."""
    session.execute(text(f"DROP TABLE IF EXISTS {PRIOR}"))
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE {PRIOR} AS SELECT customer_id, confidence, magnitude "
            "FROM impacts WHERE incident_id = :incident"
        ),
        {"incident": incident_id},
    )


def record_changes(session: Session, run_id: int, incident_id: int) -> dict[str, int]:
    """Compare the kept impacts with the stored ones; answers the counts by change."""
    insert = (
        "INSERT INTO impact_changes (run_id, customer_id, incident_id, change, "
        "before_confidence, before_magnitude, after_confidence, after_magnitude) "
    )
    params = {"run": run_id, "incident": incident_id}
    for statement in (
        # Newly affected.
        "SELECT :run, n.customer_id, :incident, 'added', NULL, NULL, n.confidence, "
        f"n.magnitude FROM impacts n LEFT JOIN {PRIOR} p ON p.customer_id = n.customer_id "
        "WHERE n.incident_id = :incident AND p.customer_id IS NULL",
        # No longer affected.
        "SELECT :run, p.customer_id, :incident, 'removed', p.confidence, p.magnitude, "
        f"NULL, NULL FROM {PRIOR} p LEFT JOIN impacts n ON n.customer_id = p.customer_id "
        "AND n.incident_id = :incident WHERE n.customer_id IS NULL",
        # Affected differently: the magnitude first, else the confidence.
        "SELECT :run, n.customer_id, :incident, CASE WHEN n.magnitude <> p.magnitude "
        "THEN 'magnitude' ELSE 'confidence' END, p.confidence, p.magnitude, n.confidence, "
        f"n.magnitude FROM impacts n JOIN {PRIOR} p ON p.customer_id = n.customer_id "
        "WHERE n.incident_id = :incident AND (n.magnitude <> p.magnitude "
        "OR n.confidence <> p.confidence)",
    ):
        session.execute(text(insert + statement), params)
    session.execute(text(f"DROP TABLE {PRIOR}"))
    return change_counts(session, run_id)


def change_counts(session: Session, run_id: int) -> dict[str, int]:
    counts = dict.fromkeys(CHANGES, 0)
    rows = session.execute(
        select(ImpactChange.change, func.count())
        .where(ImpactChange.run_id == run_id)
        .group_by(ImpactChange.change)
    )
    for change, n in rows:
        counts[str(change)] = int(n)
    return counts


def latest_changes(session: Session, incident_id: int) -> dict[str, Any] | None:
    """The newest run after an amendment that found a difference: its id and counts,
    and a few customers of each kind (None: no such run)."""
    run_id = session.scalar(
        select(func.max(ImpactChange.run_id)).where(ImpactChange.incident_id == incident_id)
    )
    if run_id is None:
        return None
    sample: dict[str, list[dict[str, Any]]] = {}
    for change in CHANGES:
        rows = session.scalars(
            select(ImpactChange)
            .where(ImpactChange.run_id == run_id, ImpactChange.change == change)
            .order_by(ImpactChange.customer_id)
            .limit(10)
        )
        sample[change] = [
            {
                "customer_id": c.customer_id,
                "before": _side(c.before_confidence, c.before_magnitude),
                "after": _side(c.after_confidence, c.after_magnitude),
            }
            for c in rows
        ]
    return {"run_id": int(run_id), "counts": change_counts(session, run_id), "sample": sample}


def _side(confidence: str | None, magnitude: int | None) -> dict[str, Any] | None:
    if confidence is None:
        return None
    return {"confidence": confidence, "magnitude": magnitude}
