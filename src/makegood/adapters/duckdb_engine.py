"""The DuckDB impact engine, in process: set-based end to end, one query per rule over
the usage data, one aggregation to keep a single impact per customer."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from makegood.adapters.duckdb_sources import check_source, source_types, view_sql
from makegood.config import Settings
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

# Rows per batch on the way to the store (which cuts them to its own COPY chunks).
BATCH_ROWS = 100_000


@dataclass(frozen=True)
class DuckDBEngine:
    """A fresh in-memory DuckDB per run, within ``memory_limit`` and ``threads``."""

    memory_limit: str = "1GB"
    threads: int | None = None
    name: str = field(default="duckdb", init=False)

    def compute(self, job: ImpactJob) -> EngineResult:
        """The impacts as a stream of batches: the connection stays open until the
        store has read the last one (or stops reading), then closes."""
        con = connect(self.memory_limit, self.threads)
        try:
            return compute_impacts(
                job.customers, job.sources, job.window, job.custom, job.builtin, con
            )
        except BaseException:
            con.close()
            raise

    def check_source(self, table: str, path: str) -> tuple[str, int]:
        return check_source(table, path)


def engine(settings: Settings) -> DuckDBEngine:
    """The ``duckdb`` entry point of ``makegood.engines``."""
    return DuckDBEngine(settings.duckdb_memory_limit, settings.duckdb_threads)


def connect(memory_limit: str = "1GB", threads: int | None = None) -> duckdb.DuckDBPyConnection:
    config: dict[str, str | bool | int | float | list[str]] = {"memory_limit": memory_limit}
    if threads:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    return con


def _builtin_selects(w: Window, sources: dict[str, SourceRef]) -> list[tuple[list[str], str]]:
    """(rule names, SQL) for the built-in rules the incident's services call for."""
    selects = []
    if rules.SHIPPING in w.services:
        _require(sources, "shipments", rules.SHIPPING)
        selects.append((["late_shipment"], rules.late_shipment(w)))
    if w.usage_services:
        _require(sources, "usage_events", ", ".join(w.usage_services))
        selects.append((["failed_usage", "habitual_usage"], rules.usage_rules(w)))
    return selects


def _require(sources: dict[str, SourceRef], table: str, services: str) -> None:
    if table not in sources:
        raise ConfigurationError(
            f"the incident affects {services}, which needs {table} data; "
            f"add it with `makegood sources add {table} PATH`"
        )


def compute_impacts(
    customers: pa.Table | Path,
    sources: dict[str, SourceRef],
    w: Window,
    custom: list[CustomRule],
    builtin: bool = True,
    con: duckdb.DuckDBPyConnection | None = None,
) -> EngineResult:
    """Who the incident hurt: one row per known customer, strongest finding first.

    ``customers`` holds (customer_id, timezone) for every customer makegood knows: an
    Arrow table, or a Parquet file that DuckDB reads as the query needs it.
    """
    con = con or connect()
    if isinstance(customers, Path):
        quoted = str(customers).replace("'", "''")
        con.execute(f"CREATE OR REPLACE TEMP VIEW customers AS FROM read_parquet('{quoted}')")
    else:
        con.register("customers", customers)
    _register_sources(con, sources)
    started = time.perf_counter()
    selects = _builtin_selects(w, sources) if builtin else []
    names = [name for names_, _ in selects for name in names_] + [r.name for r in custom]
    if not custom and len(selects) == 1 and _one_row_per_customer(w):
        found = con.sql(
            f"""
            SELECT m.customer_id, m.confidence, m.magnitude, m.rule,
                   '[' || m.evidence || ']' AS evidence, c.customer_id IS NOT NULL AS known
            FROM ({selects[0][1]}) m LEFT JOIN customers c ON c.customer_id = m.customer_id
            """
        )
        return _result(con, found, names, started)
    parts = [f"SELECT *, {rank} AS rule_rank FROM ({sql})" for rank, (_, sql) in enumerate(selects)]
    con.execute(
        "CREATE TEMP TABLE matches (customer_id VARCHAR, confidence VARCHAR, magnitude BIGINT, "
        "rule VARCHAR, evidence VARCHAR, rule_rank INTEGER)"
    )
    if parts:
        con.execute("INSERT INTO matches " + " UNION ALL ".join(parts))
    for offset, rule in enumerate(custom):
        _run_custom(con, rule, w, len(selects) + offset)
    # One pass: keep each customer's strongest finding, all evidence, and whether the
    # customer is known (one join against the customers, for both answers).
    found = con.sql(
        """
        SELECT m.customer_id,
               arg_min(m.confidence, m.rank) AS confidence,
               arg_min(m.magnitude, m.rank) AS magnitude,
               arg_min(m.rule, m.rank) AS rule,
               '[' || string_agg(m.evidence, ',' ORDER BY m.rank) || ']' AS evidence,
               bool_or(c.customer_id IS NOT NULL) AS known
        FROM (SELECT *, (CASE confidence WHEN 'confirmed' THEN 0 ELSE 1 END) * 1000 + rule_rank
                        AS rank FROM matches) m
        LEFT JOIN customers c ON c.customer_id = m.customer_id
        GROUP BY m.customer_id
        """
    )
    return _result(con, found, names, started)


def _register_sources(con: duckdb.DuckDBPyConnection, sources: dict[str, SourceRef]) -> None:
    """Each source as a view with its contract's column names and types."""
    for table, ref in sources.items():
        try:
            types = source_types(con, ref.path, ref.format)
        except duckdb.Error as exc:
            raise ConfigurationError(
                f"the {table} source {ref.path} cannot be read any more ({exc}); "
                f"add it again with `makegood sources add {table} PATH`"
            ) from None
        con.execute(
            f"CREATE OR REPLACE VIEW {table} AS {view_sql(table, ref.path, ref.format, types)}"
        )


def _one_row_per_customer(w: Window) -> bool:
    """A single rule family that already yields one row per customer: shipping alone
    (late_shipment groups by customer), or one usage service (a customer with an
    error in the window cannot also have had no event in it)."""
    if rules.SHIPPING in w.services:
        return len(w.services) == 1
    return len(w.usage_services) == 1


def _result(
    con: duckdb.DuckDBPyConnection,
    found: duckdb.DuckDBPyRelation,
    names: list[str],
    started: float,
) -> EngineResult:
    """The known customers' rows, streamed to the store in batches of BATCH_ROWS, never
    collected whole: the result of ten million customers' usage is a few hundred MB
    of Arrow. The query's seconds run until the first batch is ready (the rules'
    aggregations are done by then); the rest overlaps the store. Unknown ids are
    counted as the batches pass."""
    reader = found.to_arrow_reader(BATCH_ROWS)
    first = next(iter(reader), None)
    result = EngineResult(
        impacts=pa.RecordBatchReader.from_batches(RESULT_SCHEMA, iter(())),
        unknown_customers=0,
        rules=names,
        seconds={"query": time.perf_counter() - started},
    )
    result.impacts = pa.RecordBatchReader.from_batches(
        RESULT_SCHEMA, _known(con, first, reader, result)
    )
    return result


def _known(
    con: duckdb.DuckDBPyConnection,
    first: pa.RecordBatch | None,
    rest: pa.RecordBatchReader,
    result: EngineResult,
) -> Iterator[pa.RecordBatch]:
    try:
        for batch in itertools.chain([first] if first is not None else [], rest):
            kept = batch.filter(batch.column("known")).select(list(RESULT_COLUMNS))
            result.unknown_customers += batch.num_rows - kept.num_rows
            yield kept.cast(RESULT_SCHEMA)
    finally:
        con.close()


def _run_custom(con: duckdb.DuckDBPyConnection, rule: CustomRule, w: Window, rank: int) -> None:
    try:
        con.execute(f"INSERT INTO matches {rules.custom_rule_select(rule, w, rank)}")
    except duckdb.Error as exc:
        raise InvalidInputError(
            f"{rule.path}: the rule failed ({exc}); it must return customer_id, confidence, "
            "magnitude, evidence"
        ) from None
    rules.refuse_bad_rows(rule, con.execute(rules.custom_rule_check(rank)).fetchall()[0])
