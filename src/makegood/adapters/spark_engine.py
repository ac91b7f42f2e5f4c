"""The Apache Spark impact engine: the same rules as DuckDB, translated, run where the
data lake is (local[*] in this process, a standalone or YARN cluster, or Spark Connect).

Sources are read by Spark from the paths registered with ``sources add`` (local paths,
or ``s3a://``, ``hdfs://``, ``abfss://`` where the cluster has them). The customers
known to makegood go to Spark as Arrow. The answer comes back a bounded batch at a
time (``[spark] batch_rows``), never collected whole in this process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from makegood.adapters.duckdb_sources import SCHEMAS, check_source, detect_format
from makegood.adapters.spark_session import SparkSessions, spark_error
from makegood.adapters.spark_sql import json_text, to_spark
from makegood.config import Settings, SparkSettings
from makegood.core.errors import ConfigurationError, InvalidInputError
from makegood.impact import rules
from makegood.impact.ports import (
    RESULT_COLUMNS,
    RESULT_SCHEMA,
    EngineResult,
    ImpactJob,
    SourceRef,
)
from makegood.impact.rules import CustomRule, Window

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SPARK_TYPES = {"VARCHAR": "STRING", "TIMESTAMPTZ": "TIMESTAMP"}
# Each customer's strongest finding (confirmed before possible, then the rules' order)
# and all its evidence in that order; ties broken by magnitude, then evidence, so a
# rule with several rows per customer gives the same answer every time.
COMBINE = """
SELECT m.customer_id,
       min_by(m.confidence, m.key) AS confidence,
       min_by(m.magnitude, m.key) AS magnitude,
       min_by(m.rule, m.key) AS rule,
       concat('[', array_join(transform(array_sort(collect_list(
           named_struct('key', m.key, 'evidence', m.evidence))), e -> e.evidence), ','), ']')
           AS evidence,
       bool_or(c.customer_id IS NOT NULL) AS known
FROM (SELECT *, named_struct(
          'rank', (CASE confidence WHEN 'confirmed' THEN 0 ELSE 1 END) * 1000 + rule_rank,
          'magnitude', -magnitude, 'evidence', evidence) AS key
      FROM matches) m
LEFT JOIN customers c ON c.customer_id = m.customer_id
GROUP BY m.customer_id
"""


@dataclass
class SparkEngine:
    """Runs impact on the Spark that ``[spark]`` names, one session per process."""

    settings: SparkSettings = field(default_factory=SparkSettings)
    name: str = field(default="spark", init=False)

    def __post_init__(self) -> None:
        self.sessions = SparkSessions(self.settings)

    def _customers(self, spark: Any, customers: pa.Table | Path) -> Any:
        """The customers as a DataFrame: a local Spark reads a snapshot file itself;
        a cluster's executors cannot see the driver's files, so it gets the rows."""
        if not isinstance(customers, Path):
            return spark.createDataFrame(customers)
        if self.settings.master.startswith("local") and "PYSPARK_GATEWAY_PORT" not in os.environ:
            return spark.read.parquet(str(customers))
        return spark.createDataFrame(pq.read_table(customers))

    def compute(self, job: ImpactJob) -> EngineResult:
        spark, started = self.sessions.get()
        began = time.perf_counter()
        with spark_error("the impact query"):
            self._customers(spark, job.customers).createOrReplaceTempView("customers")
            for table, ref in job.sources.items():
                _source_view(spark, table, ref)
            selects = _builtin_selects(job.window, job.sources) if job.builtin else []
            names = [n for ns, _ in selects for n in ns] + [r.name for r in job.custom]
            parts = [
                f"SELECT *, {rank} AS rule_rank FROM ({sql})"
                for rank, (_, sql) in enumerate(selects)
            ]
            parts += [
                _custom_select(spark, rule, job.window, len(selects) + i)
                for i, rule in enumerate(job.custom)
            ]
            if not parts:
                return _empty(names, started, began)
            spark.sql(" UNION ALL ".join(parts)).createOrReplaceTempView("matches")
            found = spark.sql(COMBINE).persist()
            counts = found.selectExpr("count_if(known)", "count_if(NOT known)").collect()[0]
            known, unknown = int(counts[0]), int(counts[1])
        seconds = {"spark_start": started, "query": time.perf_counter() - began}
        # Read back in pieces of about batch_rows (one Spark job each), from the cache.
        pieces = max(1, -(-known // self.settings.batch_rows))
        reader = pa.RecordBatchReader.from_batches(
            RESULT_SCHEMA, _batches(found, pieces, self.settings.batch_rows)
        )
        return EngineResult(impacts=reader, unknown_customers=unknown, rules=names, seconds=seconds)

    def check_source(self, table: str, path: str) -> tuple[str, int]:
        """Files on this machine are checked value by value (as for DuckDB); a path on
        the cluster's storage (s3a://, hdfs://, ...) is checked by Spark for its columns."""
        if "://" not in path or path.startswith("file://"):
            return check_source(table, path.removeprefix("file://"))
        if table not in SCHEMAS:
            raise InvalidInputError(
                f"{table!r} is not a source table; use one of {', '.join(SCHEMAS)}"
            )
        fmt = detect_format(path)
        spark, _ = self.sessions.get()
        with spark_error(f"reading {path}"):
            frame = _read(spark, SourceRef(path, fmt))
            missing = [c.name for c in SCHEMAS[table] if c.name not in frame.columns]
            if missing:
                raise InvalidInputError(
                    f"{path}: does not match the {table} contract",
                    [f"column {name} is missing" for name in missing],
                )
            return fmt, frame.count()


def engine(settings: Settings) -> SparkEngine:
    """The ``spark`` entry point of ``makegood.engines``."""
    return SparkEngine(settings.spark)


def _builtin_selects(w: Window, sources: dict[str, SourceRef]) -> list[tuple[list[str], str]]:
    """(rule names, Spark SQL) for the built-in rules the incident's services call for."""
    selects = []
    if rules.SHIPPING in w.services:
        _require(sources, "shipments", rules.SHIPPING)
        selects.append((["late_shipment"], to_spark(rules.late_shipment(w), "late_shipment")))
    if w.usage_services:
        _require(sources, "usage_events", ", ".join(w.usage_services))
        sql = to_spark(rules.usage_rules(w), "the usage rules")
        selects.append((["failed_usage", "habitual_usage"], sql))
    return selects


def _require(sources: dict[str, SourceRef], table: str, services: str) -> None:
    if table not in sources:
        raise ConfigurationError(
            f"the incident affects {services}, which needs {table} data; "
            f"add it with `makegood sources add {table} PATH`"
        )


def _read(spark: SparkSession, ref: SourceRef) -> DataFrame:
    if ref.format == "parquet":
        return spark.read.parquet(ref.path)
    # The contract's CSV: a header, "" to quote a quote, UTF-8; every value read as text.
    return spark.read.csv(ref.path, header=True, quote='"', escape='"', encoding="UTF-8")


def _source_view(spark: SparkSession, table: str, ref: SourceRef) -> None:
    """The source under its contract's column names and types, as DuckDB shows it."""
    frame = _read(spark, ref)
    types = dict(frame.dtypes)
    columns = []
    for col in SCHEMAS[table]:
        if col.name not in types:
            raise ConfigurationError(
                f"the {table} source {ref.path} has no column {col.name} any more; "
                f"add it again with `makegood sources add {table} PATH`"
            )
        expr = f"`{col.name}`"
        if types[col.name] == "string" and not col.required_value:
            expr = f"nullif({expr}, '')"
        columns.append(f"CAST({expr} AS {SPARK_TYPES[col.cast]}) AS {col.name}")
    frame.selectExpr(*columns).createOrReplaceTempView(table)


def _custom_select(spark: SparkSession, rule: CustomRule, w: Window, rank: int) -> str:
    """The rule's rows in the shape every rule yields, after checking them as DuckDB
    does; its evidence written as the DuckDB engine writes it."""
    view = f"makegood_rule_{rank}"
    try:
        inner = spark.sql(to_spark(rules.bind_custom_rule(rule, w), str(rule.path)))
        inner.createOrReplaceTempView(view)
        kind = dict(inner.dtypes).get("evidence")
    except Exception as exc:
        raise InvalidInputError(
            f"{rule.path}: the rule failed on Spark ({_first_line(exc)}); it must return "
            "customer_id, confidence, magnitude, evidence"
        ) from None
    if kind is None:
        raise InvalidInputError(f"{rule.path}: the rule returns no evidence column")
    name = rule.name.replace("\\", "\\\\").replace("'", "\\'")
    select = f"""
    SELECT CAST(customer_id AS STRING) AS customer_id, CAST(confidence AS STRING) AS confidence,
           TRY_CAST(magnitude AS BIGINT) AS magnitude, '{name}' AS rule,
           {_evidence(rule, name, kind)} AS evidence, {rank} AS rule_rank
    FROM {view}"""
    spark.sql(select).createOrReplaceTempView(f"{view}_rows")
    check = to_spark(rules.custom_rule_check(rank, f"{view}_rows"), str(rule.path))
    checked = spark.sql(check).collect()[0]
    rules.refuse_bad_rows(rule, list(checked))
    return select


def _evidence(rule: CustomRule, name: str, kind: str) -> str:
    wrapped = json_text(f"named_struct('rule', '{name}', 'detail', evidence)")
    if kind.startswith(("struct", "array", "map")):
        return wrapped
    text = "CAST(evidence AS STRING)"
    prefix = rules.detail_prefix(rule).replace("\\", "\\\\").replace("'", "\\'")
    fallback = json_text(f"named_struct('rule', '{name}', 'detail', {text})")
    return (
        f"CASE WHEN try_parse_json({text}) IS NOT NULL "
        f"THEN concat('{prefix}', {text}, '}}') ELSE {fallback} END"
    )


def _batches(found: DataFrame, pieces: int, size: int) -> Iterator[pa.RecordBatch]:
    """The known customers' impacts, ``size`` rows at a time, one piece in memory."""
    try:
        with spark_error("reading the impacts back from Spark"):
            rows: list[Any] = []
            known = found.filter("known").select(*RESULT_COLUMNS).coalesce(pieces)
            for row in known.toLocalIterator():
                rows.append(row)
                if len(rows) >= size:
                    yield _batch(rows)
                    rows = []
            if rows:
                yield _batch(rows)
    finally:
        found.unpersist()


def _batch(rows: list[Any]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [pa.array(col, type=f.type) for col, f in zip(columns, RESULT_SCHEMA, strict=True)],
        schema=RESULT_SCHEMA,
    )


def _empty(names: list[str], started: float, began: float) -> EngineResult:
    seconds = {"spark_start": started, "query": time.perf_counter() - began}
    return EngineResult(
        impacts=pa.RecordBatchReader.from_batches(RESULT_SCHEMA, iter(())),
        unknown_customers=0,
        rules=names,
        seconds=seconds,
    )


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0]
