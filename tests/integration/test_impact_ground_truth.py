"""Impact counts and customer sets equal a ground truth built scenario by scenario."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from makegood.customers.service import import_customers
from makegood.db.uow import UnitOfWork
from makegood.impact.models import Impact
from makegood.impact.service import run_impact
from makegood.incidents.service import Declaration, declare
from makegood.sources.service import add_source
from tests.support import truth as gt
from tests.support.ports import CHECK, IMPACT


def _load(engine: object, tmp_path: Path, fmt: str) -> gt.Truth:
    t = gt.build()
    files = gt.write(t, tmp_path / fmt, fmt)
    with UnitOfWork(engine) as uow:  # type: ignore[arg-type]
        import_customers(uow.session, files["customers"], gt.NOW)
        add_source(uow.session, "usage_events", str(files["usage_events"]), gt.NOW, "test", **CHECK)
        add_source(uow.session, "shipments", str(files["shipments"]), gt.NOW, "test", **CHECK)
        uow.commit()
    return t


def _impacts(engine: object, incident_id: int) -> dict[str, Impact]:
    with UnitOfWork(engine) as uow:  # type: ignore[arg-type]
        rows = uow.session.scalars(select(Impact).where(Impact.incident_id == incident_id))
        return {i.customer_id: i for i in rows}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_streaming_impacts_equal_ground_truth_across_dst(engine, tmp_path, fmt):
    t = _load(engine, tmp_path, fmt)
    with UnitOfWork(engine) as uow:
        incident = declare(
            uow.session,
            Declaration(
                services=["streaming"],
                start=gt.STREAM_START,
                end=gt.STREAM_END,
                title="Playback failing",
            ),
            gt.NOW,
            "test",
        )
        report = run_impact(uow.session, incident.id, gt.NOW, "test", **IMPACT)
        uow.commit()

    found = _impacts(engine, incident.id)
    confirmed = {c: i.magnitude for c, i in found.items() if i.confidence == "confirmed"}
    possible = {c for c, i in found.items() if i.confidence == "possible"}
    assert confirmed == t.streaming_confirmed
    assert possible == t.streaming_possible
    assert (report.confirmed, report.possible) == (
        len(t.streaming_confirmed),
        len(t.streaming_possible),
    )
    assert report.unknown_customers == len(t.unknown_ids - {"ghost-ship"})
    assert all(found[c].rule == "habitual_usage" for c in possible)
    assert all(found[c].magnitude == 120 for c in possible)  # minutes in the window
    habit_and_error = next(c for c in confirmed if c.startswith("habiterr"))
    assert found[habit_and_error].rule == "failed_usage"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_shipping_impacts_equal_ground_truth(engine, tmp_path, fmt):
    t = _load(engine, tmp_path, fmt)
    with UnitOfWork(engine) as uow:
        incident = declare(
            uow.session,
            Declaration(
                services=["shipping"], start=gt.SHIP_START, end=gt.SHIP_END, title="Warehouse down"
            ),
            gt.NOW,
            "test",
        )
        report = run_impact(uow.session, incident.id, gt.NOW, "test", **IMPACT)
        uow.commit()

    found = _impacts(engine, incident.id)
    assert {c: i.magnitude for c, i in found.items()} == t.shipping_confirmed
    assert {i.confidence for i in found.values()} == {"confirmed"}
    assert (report.confirmed, report.possible) == (len(t.shipping_confirmed), 0)
    assert report.unknown_customers == 1  # the ghost shipment
    assert any(c.startswith("cancelledlate") for c in found)
    assert not any(c.startswith(("ontime", "exactlydue", "outside")) for c in found)
