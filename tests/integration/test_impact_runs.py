"""Re-running, refusing, custom rules and concurrency of `impact run`."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from makegood.campaigns.models import Campaign
from makegood.core.errors import ConfigurationError, ConflictError, InvalidInputError
from makegood.customers.service import import_customers
from makegood.db.uow import UnitOfWork
from makegood.impact.models import Impact, ImpactRun
from makegood.impact.service import run_impact
from makegood.incidents.service import Declaration, declare
from makegood.sources.service import add_source
from tests.support.files import customer, write_csv
from tests.support.ports import CHECK, IMPACT

START = datetime(2026, 3, 2, 20, tzinfo=UTC)
END = START + timedelta(hours=2)
NOW = END + timedelta(days=1)


@pytest.fixture
def loaded(engine, tmp_path):
    """Three customers; c1 fails to stream in EU, c2 in NA, c3 has a late order."""
    write_csv(tmp_path / "customers.csv", [customer("c1"), customer("c2"), customer("c3")])
    (tmp_path / "events.csv").write_text(
        "customer_id,occurred_at,service,outcome,device,region\n"
        "c1,2026-03-02T20:10:00Z,streaming,error,tv,eu\n"
        "c1,2026-03-02T20:20:00Z,streaming,error,tv,eu\n"
        "c2,2026-03-02T21:00:00Z,streaming,error,mobile,na\n"
        "c3,2026-03-02T21:00:00Z,streaming,ok,tv,na\n"
    )
    (tmp_path / "shipments.csv").write_text(
        "customer_id,order_id,due_at,shipped_at\n"
        "c3,o1,2026-03-02T20:30:00Z,2026-03-04T21:00:00Z\n"
        "c1,o2,2026-03-02T20:30:00Z,\n"
    )
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, tmp_path / "customers.csv", NOW)
        add_source(uow.session, "usage_events", str(tmp_path / "events.csv"), NOW, "t", **CHECK)
        add_source(uow.session, "shipments", str(tmp_path / "shipments.csv"), NOW, "t", **CHECK)
        uow.commit()
    return tmp_path


def incident(engine, services=("streaming",), end=END, **extra) -> int:
    with UnitOfWork(engine) as uow:
        inc = declare(
            uow.session,
            Declaration(services=list(services), start=START, end=end, title="t", **extra),
            NOW,
            "t",
        )
        uow.commit()
        return inc.id


def run(engine, incident_id, **kwargs):
    with UnitOfWork(engine) as uow:
        report = run_impact(uow.session, incident_id, NOW, "t", **kwargs, **IMPACT)
        uow.commit()
    return report


def impacts(engine, incident_id) -> dict[str, Impact]:
    with UnitOfWork(engine) as uow:
        return {
            i.customer_id: i
            for i in uow.session.scalars(select(Impact).where(Impact.incident_id == incident_id))
        }


def test_rerun_replaces_impacts_without_duplicates(engine, loaded):
    inc = incident(engine)
    first = run(engine, inc)
    second = run(engine, inc)
    assert (first.confirmed, second.confirmed) == (2, 2)
    assert set(impacts(engine, inc)) == {"c1", "c2"}
    with UnitOfWork(engine) as uow:
        assert uow.session.scalar(select(func.count()).select_from(ImpactRun)) == 2


def test_rerun_after_new_data_reflects_the_new_data(engine, loaded):
    inc = incident(engine)
    run(engine, inc)
    with (loaded / "events.csv").open("a") as fh:
        fh.write("c3,2026-03-02T21:30:00Z,streaming,error,tv,na\n")
    assert run(engine, inc).confirmed == 3
    assert set(impacts(engine, inc)) == {"c1", "c2", "c3"}


def test_rerun_is_refused_once_a_campaign_was_executed(engine, loaded):
    inc = incident(engine)
    run(engine, inc)
    with UnitOfWork(engine) as uow:
        uow.session.add(Campaign(incident_id=inc, status="done", created_at=NOW))
        uow.commit()
    with pytest.raises(ConflictError, match="already has an executed campaign"):
        run(engine, inc)
    assert set(impacts(engine, inc)) == {"c1", "c2"}


def test_a_draft_campaign_does_not_block_a_rerun(engine, loaded):
    inc = incident(engine)
    with UnitOfWork(engine) as uow:
        uow.session.add(Campaign(incident_id=inc, status="draft", created_at=NOW))
        uow.commit()
    assert run(engine, inc).confirmed == 2


def test_region_and_device_narrow_the_incident(engine, loaded):
    assert set(impacts(engine, incident(engine, regions=("eu",))) or {}) == set()  # not run yet
    inc = incident(engine, regions=("eu",))
    run(engine, inc)
    assert set(impacts(engine, inc)) == {"c1"}
    inc = incident(engine, devices=("mobile",))
    run(engine, inc)
    assert set(impacts(engine, inc)) == {"c2"}


def test_two_services_keep_one_impact_per_customer_with_all_evidence(engine, loaded):
    inc = incident(engine, services=("shipping", "streaming"))
    report = run(engine, inc)
    found = impacts(engine, inc)
    assert report.rules == ["late_shipment", "failed_usage", "habitual_usage"]
    assert set(found) == {"c1", "c2", "c3"}
    evidence = json.loads(found["c1"].evidence)
    assert [e["rule"] for e in evidence] == ["late_shipment", "failed_usage"]
    assert found["c1"].rule == "late_shipment"
    # o1 left on 4 March, after "now" (3 March 22:00): as of now it is unshipped,
    # due 1 day 1.5 hours ago, so 1 whole day late.
    assert found["c3"].magnitude == 1


def test_open_and_unfinished_incidents_are_refused(engine, loaded):
    with pytest.raises(ConflictError, match="has no end yet"):
        run(engine, incident(engine, end=None))
    with pytest.raises(ConflictError, match="after now"):
        run(engine, incident(engine, end=NOW + timedelta(hours=1)))


def test_missing_source_names_the_command_to_add_it(engine, tmp_path):
    write_csv(tmp_path / "customers.csv", [customer("c1")])
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, tmp_path / "customers.csv", NOW)
        uow.commit()
    with pytest.raises(ConfigurationError, match="makegood sources add shipments PATH"):
        run(engine, incident(engine, services=("shipping",)))


def test_custom_rule_adds_its_findings(engine, loaded):
    rule = loaded / "long_sessions.sql"
    rule.write_text(
        "-- customers with an ok event in the window: possible harm\n"
        "SELECT customer_id, 'possible' AS confidence, count(*) AS magnitude,\n"
        "       'ok events: ' || count(*) AS evidence\n"
        "FROM usage_events\n"
        "WHERE occurred_at >= :start AND occurred_at < :end AND service IN :services\n"
        "  AND outcome = 'ok'\n"
        "GROUP BY customer_id\n"
    )
    inc = incident(engine)
    report = run(engine, inc, rule_files=[rule])
    found = impacts(engine, inc)
    assert report.rules[-1] == "long_sessions"
    assert (report.confirmed, report.possible) == (2, 1)
    assert found["c3"].rule == "long_sessions"
    assert json.loads(found["c3"].evidence) == [{"rule": "long_sessions", "detail": "ok events: 1"}]
    only = incident(engine)
    assert run(engine, only, rule_files=[rule], builtin=False).rules == ["long_sessions"]
    assert set(impacts(engine, only)) == {"c3"}


def test_custom_rule_with_bad_rows_or_bad_sql_is_named(engine, loaded):
    bad = loaded / "bad.sql"
    bad.write_text(
        "SELECT customer_id, 'maybe' AS confidence, -1 AS magnitude, '' AS evidence "
        "FROM usage_events"
    )
    inc = incident(engine)
    with pytest.raises(InvalidInputError) as caught:
        run(engine, inc, rule_files=[bad])
    assert "bad.sql: the rule returned bad rows" in caught.value.message
    assert any("'maybe'" in p for p in caught.value.problems)
    assert any("magnitude" in p for p in caught.value.problems)
    broken = loaded / "broken.sql"
    broken.write_text("SELECT nope FROM usage_events")
    with pytest.raises(InvalidInputError, match="broken.sql: the rule failed"):
        run(engine, inc, rule_files=[broken])
    assert impacts(engine, inc) == {}


# SQLite lets one writer in at a time by design; the race is about PostgreSQL row locks.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_runs_leave_one_complete_set(engine, loaded):
    inc = incident(engine)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        try:
            run(engine, inc)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(impacts(engine, inc)) == {"c1", "c2"}
