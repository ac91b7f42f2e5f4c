from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from makegood.audit.models import AuditEntry
from makegood.core.errors import ConflictError, InvalidInputError, NotFoundError
from makegood.db.uow import UnitOfWork
from makegood.incidents.service import Declaration, declare, get, list_incidents, resolve
from tests.conftest import NOW

EST = timezone(timedelta(hours=-5))


def test_declared_incident_is_stored_in_utc_with_an_audit_entry(engine):
    with UnitOfWork(engine) as uow:
        incident = declare(
            uow.session,
            Declaration(
                services=["streaming", "music", "streaming"],
                title="Playback",
                start=datetime(2026, 3, 2, 19, 30, tzinfo=EST),
                end=datetime(2026, 3, 2, 22, tzinfo=EST),
                cause="third_party",
                summary="Streaming failed.",
            ),
            NOW,
            "ines",
        )
        uow.commit()
    with UnitOfWork(engine) as uow:
        stored = get(uow.session, incident.id)
        audit = uow.session.scalars(select(AuditEntry)).all()
    assert stored.start_at == datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
    assert stored.start_at.tzinfo is UTC
    assert stored.services == ["streaming", "music"]
    assert [(a.action, a.actor, a.object_id) for a in audit] == [
        ("incident.declared", "ines", str(incident.id))
    ]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"services": ["Streaming"]}, "not a lowercase name"),
        ({"services": []}, "at least one"),
        ({"end": datetime(2026, 3, 2, tzinfo=UTC)}, "must be after start"),
        ({"end": datetime(2026, 3, 3)}, "no UTC offset"),
        ({"cause": "Third Party"}, "cause"),
        ({"severity": "sev1"}, "severity"),
        ({"title": "  "}, "title is empty"),
        ({"summaries": {"xx-Nope": "Hallo"}}, "summary for 'xx-Nope': not a locale"),
        ({"summaries": {"de": " "}}, "summary for 'de' is empty"),
    ],
)
def test_bad_declarations_are_refused_with_the_field(engine, changes, says):
    fields = {
        "services": ["shipping"],
        "title": "Down",
        "start": datetime(2026, 3, 2, 12, tzinfo=UTC),
        "end": datetime(2026, 3, 2, 18, tzinfo=UTC),
    }
    fields.update(changes)
    with UnitOfWork(engine) as uow, pytest.raises(InvalidInputError, match=says):
        declare(uow.session, Declaration(**fields), NOW, "t")
    with UnitOfWork(engine) as uow:
        assert list_incidents(uow.session) == []


def test_resolve_sets_the_end_once(engine):
    start = datetime(2026, 3, 2, 12, tzinfo=UTC)
    with UnitOfWork(engine) as uow:
        incident = declare(
            uow.session,
            Declaration(services=["shipping"], title="Down", start=start, end=None),
            NOW,
            "t",
        )
        uow.commit()
    with UnitOfWork(engine) as uow:
        with pytest.raises(InvalidInputError, match="must be after start"):
            resolve(uow.session, incident.id, start - timedelta(hours=1), NOW, "t")
        resolve(uow.session, incident.id, start + timedelta(hours=6), NOW, "t")
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert get(uow.session, incident.id).end_at == start + timedelta(hours=6)
        with pytest.raises(ConflictError, match="already resolved"):
            resolve(uow.session, incident.id, start + timedelta(hours=7), NOW, "t")
        with pytest.raises(NotFoundError, match="incident 999 does not exist"):
            get(uow.session, 999)


def test_migrations_build_exactly_the_models_schema(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from makegood.entrypoints.tables import Base

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
