"""What the policy's limits and exclusions need to know about credits a customer
already has, read with one aggregate query each, for the impacted customers only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from makegood.db.bulk import db_instant
from makegood.incidents.models import Incident
from makegood.policy.schema import Policy


@dataclass
class CreditHistory:
    by_statement: dict[tuple[str, date], int] = field(default_factory=dict)
    in_window: dict[str, int] = field(default_factory=dict)
    compensated: set[str] = field(default_factory=set)


def load_history(
    session: Session, incident: Incident, policy: Policy, now: datetime, without_own: bool = False
) -> CreditHistory:
    """Credits the incident's customers already have, as the policy's limits count them;
    ``without_own`` leaves out the incident's own (a backtest of a past incident)."""
    history = CreditHistory()
    impacted = "JOIN impacts i ON i.customer_id = l.customer_id AND i.incident_id = :incident"
    if without_own:
        impacted += " AND l.incident_id <> :incident"
    params: dict[str, object] = {"incident": incident.id}
    if policy.limits.max_percent_per_statement is not None:
        rows = session.execute(
            text(
                "SELECT l.customer_id, l.statement_date, sum(l.amount_minor) "
                f"FROM ledger_entries l {impacted} WHERE l.statement_date >= :since "
                "GROUP BY l.customer_id, l.statement_date"
            ),
            {**params, "since": (now - timedelta(days=2)).date()},
        ).all()
        history.by_statement = {(c, _as_date(d)): int(s) for c, d, s in rows}
    if policy.limits.window_days is not None:
        rows = session.execute(
            text(
                "SELECT l.customer_id, sum(l.amount_minor) "
                f"FROM ledger_entries l {impacted} WHERE l.created_at >= :since "
                "GROUP BY l.customer_id"
            ),
            {
                **params,
                "since": db_instant(session, now - timedelta(days=policy.limits.window_days)),
            },
        ).all()
        history.in_window = {c: int(s) for c, s in rows}
    days = policy.exclusions.compensated_within_days
    if days is not None:
        rows = session.execute(
            text(
                "SELECT l.customer_id FROM ledger_entries l "
                f"{impacted} JOIN incidents o ON o.id = l.incident_id "
                "WHERE o.id <> :incident AND o.start_at < :end AND "
                "coalesce(o.end_at, :now) > :start AND l.created_at >= :since "
                "GROUP BY l.customer_id HAVING sum(l.amount_minor) > 0"
            ),
            {
                **params,
                "start": db_instant(session, incident.start_at),
                "end": db_instant(session, incident.end_at or now),
                "now": db_instant(session, now),
                "since": db_instant(session, now - timedelta(days=days)),
            },
        ).all()
        history.compensated = {c for (c,) in rows}
    return history


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
