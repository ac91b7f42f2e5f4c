"""Use case: incidents opened and ended by Prometheus Alertmanager's webhook.

An alert takes part when it carries a ``makegood_service`` label. Its first firing
notification opens an incident; its resolved notification sets the incident's end.
Alertmanager repeats notifications and may deliver the same one several times at
once, so the alert's fingerprint is the key: the ``alert_links`` primary key lets
exactly one delivery open the incident, and a conditional update lets exactly one
end it. Each alert is its own transaction; a delivery that stops half-way is simply
sent again by Alertmanager, and what was done is not done twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.core.errors import InvalidInputError
from makegood.db.uow import UnitOfWork
from makegood.incidents.models import AlertLink, Incident
from makegood.incidents.rules import clean_names
from makegood.incidents.service import Declaration, declare, resolve

SOURCE = "alertmanager"
ACTOR = "alertmanager"

SERVICE_LABEL = "makegood_service"
REGION_LABEL = "makegood_region"
CAUSE_LABEL = "makegood_cause"
SEVERITY_LABEL = "severity"
# An annotation written for customers wins over the operators' description.
SUMMARY_ANNOTATION = "makegood_summary"

# Alertmanager's severities are free text; these are the usual ones. Anything else
# (or none) is "major", the default of a declared incident.
SEVERITY_MAP = {
    "critical": "critical",
    "page": "critical",
    "emergency": "critical",
    "fatal": "critical",
    "p1": "critical",
    "sev1": "critical",
    "major": "major",
    "error": "major",
    "high": "major",
    "p2": "major",
    "sev2": "major",
    "minor": "minor",
    "warning": "minor",
    "warn": "minor",
    "medium": "minor",
    "low": "minor",
    "info": "minor",
    "p3": "minor",
    "p4": "minor",
    "sev3": "minor",
    "sev4": "minor",
}
TITLE_MAX = 200


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "contains a NUL character")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "instant_range", "{value} is out of range", {"value": value.isoformat()}
        ) from None


Instant = Annotated[AwareDatetime, AfterValidator(_utc)]
# Alertmanager writes Go's zero time (0001-01-01) for "no time"; no outage began before
# this, so an earlier start is a sender's mistake, not an incident to open.
EARLIEST_START = datetime(2000, 1, 1, tzinfo=UTC)
# One notification opens at most this many incidents; Alertmanager groups far fewer.
MAX_ALERTS = 1000


def _plausible_start(value: datetime) -> datetime:
    if value < EARLIEST_START:
        raise PydanticCustomError(
            "instant_too_early",
            "{value} is before {earliest}: not the start of an outage",
            {"value": value.isoformat(), "earliest": EARLIEST_START.date().isoformat()},
        )
    return value


class AlertmanagerAlert(BaseModel):
    """One alert of a notification, in Alertmanager's own field names; fields beyond
    these are ignored."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[Text, Text] = Field(default_factory=dict)
    annotations: dict[Text, Text] = Field(default_factory=dict)
    startsAt: Annotated[Instant, AfterValidator(_plausible_start)]
    endsAt: Instant | None = None
    fingerprint: Text = Field(min_length=1, max_length=200)
    generatorURL: str = ""


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook notification (payload version 4)."""

    model_config = ConfigDict(extra="ignore")

    version: str = "4"
    receiver: str = ""
    status: Literal["firing", "resolved"]
    alerts: list[AlertmanagerAlert] = Field(max_length=MAX_ALERTS)
    groupKey: str = ""
    truncatedAlerts: int = 0


@dataclass(frozen=True)
class Parsed:
    """An alert that names makegood services, read into what an incident needs."""

    fingerprint: str
    firing: bool
    declaration: Declaration
    labels: dict[str, str]


@dataclass
class Outcome:
    """What one delivery changed: incidents opened, incidents ended, and the rest."""

    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    unchanged: int = 0
    ignored: int = 0


class _Lost(Exception):
    """Another delivery of the same alert got there first; this one changes nothing."""


def parse(alerts: Sequence[AlertmanagerAlert]) -> list[Parsed | None]:
    """Every alert read, or None for one without a makegood_service label.

    All are checked before anything is written, so a bad alert rejects the delivery
    whole; the error names the place (``alerts.2.labels.makegood_service: ...``).
    """
    return [_parse_one(i, alert) for i, alert in enumerate(alerts)]


def _parse_one(index: int, alert: AlertmanagerAlert) -> Parsed | None:
    at = f"alerts.{index}"
    services = _names(alert.labels, SERVICE_LABEL, at)
    if not services:
        return None
    regions = _names(alert.labels, REGION_LABEL, at)
    causes = _names(alert.labels, CAUSE_LABEL, at)
    if len(causes) > 1:
        raise InvalidInputError(f"{at}.labels.{CAUSE_LABEL}: give one cause, not {len(causes)}")
    end = alert.endsAt if alert.endsAt is not None and alert.endsAt > alert.startsAt else None
    if alert.status == "resolved" and end is None:
        raise InvalidInputError(
            f"{at}.endsAt: a resolved alert needs an end after its startsAt "
            f"({alert.startsAt.isoformat()})"
        )
    return Parsed(
        fingerprint=alert.fingerprint,
        firing=alert.status == "firing",
        declaration=Declaration(
            services=services,
            start=alert.startsAt,
            end=None if alert.status == "firing" else end,
            title=_title(alert),
            # Monitoring text is for engineers: customers read only what a person wrote
            # for them (the makegood_summary annotation, or a summary written later).
            summary=alert.annotations.get(SUMMARY_ANNOTATION, ""),
            notes=alert.annotations.get("description", ""),
            cause=causes[0] if causes else None,
            severity=_severity(alert.labels),
            regions=tuple(regions),
            source_ref=alert.fingerprint,
        ),
        labels=dict(alert.labels),
    )


def _names(labels: dict[str, str], label: str, at: str) -> list[str]:
    values = [v.strip().lower() for v in labels.get(label, "").split(",") if v.strip()]
    try:
        return clean_names(values, label)
    except ValueError as exc:
        raise InvalidInputError(f"{at}.labels.{exc}") from None


def _severity(labels: dict[str, str]) -> str:
    return SEVERITY_MAP.get(labels.get(SEVERITY_LABEL, "").strip().lower(), "major")


def _title(alert: AlertmanagerAlert) -> str:
    title = (
        alert.annotations.get("summary", "").strip()
        or alert.labels.get("alertname", "").strip()
        or f"Alert {alert.fingerprint}"
    )
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"


def receive(engine: Engine, alerts: Sequence[Parsed | None], now: datetime) -> Outcome:
    """Apply every alert of a delivery, each in its own transaction."""
    outcome = Outcome()
    for alert in alerts:
        if alert is None:
            outcome.ignored += 1
            continue
        with UnitOfWork(engine) as uow:
            try:
                opened, resolved = apply(uow.session, alert, now)
                uow.commit()
            except (IntegrityError, _Lost):
                # The alert_links key or a conditional update chose another delivery.
                opened, resolved = None, None
        if opened is not None:
            outcome.opened.append(opened)
        if resolved is not None:
            outcome.resolved.append(resolved)
        if opened is None and resolved is None:
            outcome.unchanged += 1
    return outcome


def apply(session: Session, alert: Parsed, now: datetime) -> tuple[int | None, int | None]:
    """The incident this alert opened and the one it ended, None where it did not.

    Raises IntegrityError or _Lost when a concurrent delivery did the same first;
    the caller then rolls back.
    """
    link = session.get(AlertLink, (SOURCE, alert.fingerprint))
    if link is None:
        incident = _open(session, alert, now)
        return incident.id, incident.id if incident.end_at is not None else None
    if _recurs(session, link, alert):
        incident = _reopen(session, link, alert, now)
        return incident.id, incident.id if incident.end_at is not None else None
    if not alert.firing and link.resolved_at is None:
        return None, _end(session, link, alert, now)
    return None, None


def _open(session: Session, alert: Parsed, now: datetime) -> Incident:
    incident = declare(session, alert.declaration, now, ACTOR)
    link = AlertLink(
        source=SOURCE,
        fingerprint=alert.fingerprint,
        incident_id=incident.id,
        opened_at=now,
        resolved_at=now if incident.end_at is not None else None,
    )
    session.add(link)
    session.flush()  # the primary key decides here: a second delivery fails
    _audit(session, "alert.linked", alert, incident.id, now)
    return incident


def _recurs(session: Session, link: AlertLink, alert: Parsed) -> bool:
    """The same alert (same labels, same fingerprint) firing again after it ended."""
    if link.resolved_at is None:
        return False
    ended = session.scalar(select(Incident.end_at).where(Incident.id == link.incident_id))
    return ended is not None and alert.declaration.start >= ended


def _reopen(session: Session, link: AlertLink, alert: Parsed, now: datetime) -> Incident:
    incident = declare(session, alert.declaration, now, ACTOR)
    moved = session.execute(
        update(AlertLink)
        .where(
            AlertLink.source == SOURCE,
            AlertLink.fingerprint == alert.fingerprint,
            AlertLink.incident_id == link.incident_id,
        )
        .values(
            incident_id=incident.id,
            opened_at=now,
            resolved_at=now if incident.end_at is not None else None,
        )
        .returning(AlertLink.fingerprint)
        .execution_options(synchronize_session=False)
    ).first()
    if moved is None:
        raise _Lost
    _audit(session, "alert.linked", alert, incident.id, now, previous=link.incident_id)
    return incident


def _end(session: Session, link: AlertLink, alert: Parsed, now: datetime) -> int | None:
    won = session.execute(
        update(AlertLink)
        .where(
            AlertLink.source == SOURCE,
            AlertLink.fingerprint == alert.fingerprint,
            AlertLink.incident_id == link.incident_id,
            AlertLink.resolved_at.is_(None),
        )
        .values(resolved_at=now)
        .returning(AlertLink.fingerprint)
        .execution_options(synchronize_session=False)
    ).first()
    if won is None:
        raise _Lost
    _audit(session, "alert.resolved", alert, link.incident_id, now)
    incident = session.get(Incident, link.incident_id)
    end = alert.declaration.end  # parse() gives every resolved alert one
    if incident is None or incident.end_at is not None or end is None:
        return None  # someone ended it by hand already; their end stands
    resolve(session, incident.id, end, now, ACTOR)
    return incident.id


def _audit(
    session: Session,
    action: str,
    alert: Parsed,
    incident_id: int,
    now: datetime,
    previous: int | None = None,
) -> None:
    after: dict[str, object] = {
        "incident_id": incident_id,
        "status": "firing" if alert.firing else "resolved",
        "labels": alert.labels,
    }
    if previous is not None:
        after["previous_incident_id"] = previous
    record(
        session,
        at=now,
        actor=ACTOR,
        action=action,
        object_type="alert",
        object_id=f"{SOURCE}/{alert.fingerprint}",
        after=after,
    )
