"""Spark and DuckDB store the same impacts: the ground-truth dataset and a custom rule,
on SQLite and PostgreSQL; and the DuckDB-to-Spark translation, expression by
expression, against both engines. One local[2] Spark session per test worker."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from makegood.adapters.duckdb_engine import DuckDBEngine, connect
from makegood.adapters.spark_engine import SparkEngine
from makegood.adapters.spark_sql import TranslationError, to_spark
from makegood.campaigns.terms import Executed
from makegood.config import SparkSettings
from makegood.core.errors import InvalidInputError
from makegood.customers.service import import_customers
from makegood.db.uow import UnitOfWork
from makegood.impact.models import Impact
from makegood.impact.ports import ImpactJob, SourceRef
from makegood.impact.rules import CustomRule, Window
from makegood.impact.service import run_impact
from makegood.incidents.service import Declaration, declare
from makegood.sources.service import add_source
from tests.support import truth as gt

pytest.importorskip("pyspark", reason="the spark extra is part of the test environment")

DUCKDB = DuckDBEngine()
# Two evenings of use before the window, with local times, counts and an ordered list
# of instants as evidence: every trap of the translation in one rule.
EVENING_RULE = """
SELECT e.customer_id, 'possible' AS confidence, count(*) AS magnitude,
       json_object('first_local', min(timezone(c.timezone, e.occurred_at)),
                   'events', count(*),
                   'first_two', list(e.occurred_at ORDER BY e.occurred_at)[1:2]) AS evidence
FROM usage_events e JOIN customers c USING (customer_id)
WHERE e.occurred_at >= :start - INTERVAL 14 DAY AND e.occurred_at < :end
  AND e.service IN :services
GROUP BY e.customer_id
"""


# The test data is tiny: two shuffle partitions, not eight, keep Spark's tasks few, and
# a JVM that compiles less suits a run of seconds beside another test worker.
TINY = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


@pytest.fixture(scope="module")
def spark() -> SparkEngine:
    return SparkEngine(SparkSettings(master="local[2]", conf=TINY))


@pytest.fixture
def loaded(engine, tmp_path):
    truth = gt.build()
    files = gt.write(truth, tmp_path / "data", "parquet")
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, files["customers"], gt.NOW)
        for table in ("usage_events", "shipments"):
            add_source(uow.session, table, str(files[table]), gt.NOW, "test", check=DUCKDB)
        uow.commit()
    return truth


def _run(engine, incident_id: int, impact_engine, rules: list[Path]) -> list[tuple]:
    with UnitOfWork(engine) as uow:
        run_impact(
            uow.session,
            incident_id,
            gt.NOW,
            "test",
            rules,
            engine=impact_engine,
            executed=Executed(),
        )
        uow.commit()
    with UnitOfWork(engine) as uow:
        stored = uow.session.scalars(
            select(Impact).where(Impact.incident_id == incident_id).order_by(Impact.customer_id)
        )
        return [(i.customer_id, i.confidence, i.magnitude, i.rule, i.evidence) for i in stored]


def _declare(engine, services: list[str], start: datetime, end: datetime) -> int:
    with UnitOfWork(engine) as uow:
        incident = declare(
            uow.session,
            Declaration(services=services, start=start, end=end, title="Outage"),
            gt.NOW,
            "test",
        )
        uow.commit()
        return incident.id


@pytest.mark.slow
def test_spark_stores_the_same_impacts_as_duckdb(engine, loaded, spark, tmp_path):
    rule = tmp_path / "evenings.sql"
    rule.write_text(EVENING_RULE)
    cases = [
        (["streaming"], gt.STREAM_START, gt.STREAM_END, [rule]),
        (["shipping"], gt.SHIP_START, gt.SHIP_END, []),
        (["streaming", "shipping"], gt.SHIP_START, gt.STREAM_END, []),
    ]
    found = {}
    for services, start, end, rules in cases:
        incident = _declare(engine, services, start, end)
        on_duckdb = _run(engine, incident, DUCKDB, rules)
        on_spark = _run(engine, incident, spark, rules)
        assert on_spark == on_duckdb, services
        found[tuple(services)] = {row[0]: row for row in on_spark}
    # Both equal the ground truth too, as DuckDB's own tests check it.
    streaming = found[("streaming",)]
    confirmed = {c: m for c, conf, m, _, _ in streaming.values() if conf == "confirmed"}
    assert confirmed == loaded.streaming_confirmed
    habitual = {c for c, _, _, r, _ in streaming.values() if r == "habitual_usage"}
    assert habitual == loaded.streaming_possible
    shipping = {c: m for c, _, m, _, _ in found[("shipping",)].values()}
    assert shipping == loaded.shipping_confirmed
    # Customers only the custom rule found: evidence with a local time and instants,
    # written as DuckDB writes them.
    only_custom = [row for row in streaming.values() if row[3] == "evenings"]
    assert only_custom
    evidence = only_custom[0][4]
    assert evidence.startswith('[{"rule":"evenings","detail":{"first_local":"2026-')
    assert '"first_two":["2026-' in evidence and '+00"' in evidence


EXPRESSIONS = [
    # New York's clocks went forward on 8 March 2026: local times on both sides.
    "CAST(timezone('America/New_York', TIMESTAMPTZ '2026-03-09 01:30:00+00') AS VARCHAR)",
    "CAST(timezone('America/New_York', TIMESTAMPTZ '2026-03-07 01:30:00+00') AS VARCHAR)",
    # The local time a week before, back to an instant, across the change.
    "epoch(timezone('America/New_York', timezone('America/New_York', "
    "TIMESTAMPTZ '2026-03-10 00:30:00+00') - to_days(7)))",
    "epoch(TIMESTAMPTZ '2026-03-10 00:30:00.25+00')",
    "epoch(make_timestamptz(2026, 3, 10, 0, 30, 1.5))",
    "epoch(TIMESTAMPTZ '2026-03-10 00:30:00+00' + to_hours(5) + to_minutes(3))",
    "CAST(json_object('at', TIMESTAMPTZ '2026-03-10 01:36:00.5+00', 'none', NULL, "
    "'n', 3, 'local', timezone('Asia/Tokyo', TIMESTAMPTZ '2026-03-10 01:36:00.125+00'), "
    "'nested', json_object('whole', TIMESTAMPTZ '2026-03-10 01:36:00+00')) AS VARCHAR)",
    "CAST(json_object('firsts', (SELECT list(x ORDER BY y, x)[2:3] FROM "
    "(VALUES ('b', 2), ('a', 1), ('c', 3), ('d', 1)) t(x, y))) AS VARCHAR)",
]


@pytest.mark.slow
def test_translated_expressions_mean_the_same(spark):
    """Every expression in one query on each engine: one Spark job for them all."""
    select = "SELECT " + ", ".join(f"{e} AS v{i}" for i, e in enumerate(EXPRESSIONS))
    on_duckdb = connect().sql(select).fetchall()[0]
    session, _ = spark.sessions.get()
    on_spark = tuple(session.sql(to_spark(select)).first())
    for expression, duck, sparked in zip(EXPRESSIONS, on_duckdb, on_spark, strict=True):
        assert sparked == duck, expression


def test_what_has_no_faithful_form_is_refused_by_name():
    with pytest.raises(TranslationError, match="rules/x.sql: list.*DESC"):
        to_spark("SELECT list(a ORDER BY b DESC) FROM t", "rules/x.sql")
    with pytest.raises(TranslationError, match="literal text keys"):
        to_spark("SELECT json_object(k, v) FROM t", "rules/x.sql")


@pytest.mark.slow
def test_a_broken_rule_on_spark_names_its_file(spark, tmp_path):
    rule = tmp_path / "broken.sql"
    rule.write_text("SELECT customer_id, 'possible' AS confidence, 1 AS magnitude FROM nowhere")
    customers = pa.table({"customer_id": ["a"], "timezone": ["UTC"]})
    window = Window(gt.STREAM_START, gt.STREAM_END, gt.NOW, ("streaming",))
    job = ImpactJob(customers, {}, window, [CustomRule("broken", rule, rule.read_text())], False)
    with pytest.raises(InvalidInputError, match=r"broken\.sql: the rule failed on Spark"):
        spark.compute(job)


@pytest.mark.slow
def test_bad_rows_from_a_rule_are_refused_as_on_duckdb(spark, tmp_path):
    rule = tmp_path / "sloppy.sql"
    rule.write_text(
        "SELECT * FROM (VALUES ('a', 'maybe', 1, 'x'), ('', 'possible', -1, 'y')) "
        "t(customer_id, confidence, magnitude, evidence)"
    )
    customers = pa.table({"customer_id": ["a"], "timezone": ["UTC"]})
    window = Window(gt.STREAM_START, gt.STREAM_END, gt.NOW, ("streaming",))
    job = ImpactJob(customers, {}, window, [CustomRule("sloppy", rule, rule.read_text())], False)
    messages = []
    for impact_engine in (DUCKDB, spark):
        with pytest.raises(InvalidInputError) as refused:
            impact_engine.compute(job)
        messages.append(refused.value.problems)
    assert messages[0] == messages[1]
    assert any("without a customer_id" in p for p in messages[0])
    assert any("'maybe'" in p for p in messages[0])


@pytest.mark.slow
def test_results_come_back_in_bounded_batches(tmp_path):
    engine = SparkEngine(SparkSettings(master="local[2]", conf=TINY, batch_rows=1_000))
    ids = [f"c{i:05d}" for i in range(3_500)]
    events = pa.table(
        {
            "customer_id": ids,
            "occurred_at": pa.array(
                [datetime(2026, 3, 10, 1, tzinfo=UTC)] * len(ids), pa.timestamp("us", tz="UTC")
            ),
            "service": ["streaming"] * len(ids),
            "outcome": ["error"] * len(ids),
            "device": ["tv"] * len(ids),
            "region": ["na"] * len(ids),
        }
    )
    pq.write_table(events, tmp_path / "events.parquet")
    job = ImpactJob(
        pa.table({"customer_id": ids, "timezone": ["UTC"] * len(ids)}),
        {"usage_events": SourceRef(str(tmp_path / "events.parquet"), "parquet")},
        Window(gt.STREAM_START, gt.STREAM_END, gt.NOW, ("streaming",)),
    )
    sizes = [batch.num_rows for batch in engine.compute(job).impacts]
    assert sum(sizes) == len(ids)
    assert max(sizes) <= 1_000
