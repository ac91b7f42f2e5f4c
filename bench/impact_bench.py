"""Benchmark of `makegood impact run`, beside what the same work costs done by hand.

One run of this script, on one set of generated Parquet files, measures:

1. makegood's ``run_impact`` for the streaming and the shipping incident (each
   ``--repeat`` times; a re-run replaces the impacts), phases from ``RunReport.seconds``;
2. a bare DuckDB query doing the same rules straight on the Parquet files, in a fresh
   ``duckdb.connect()`` with the same memory limit and threads;
3. a bare PostgreSQL COPY of the same impact rows into a fresh table with the same
   columns and primary key;
4. the peak resident memory of the impact run, in a child process of its own.

Setup (data generation, a fresh PostgreSQL database, customers loaded by COPY,
sources registered, incidents declared) is timed and reported, but is not the target.

    python bench/impact_bench.py --customers 1000000 --events 10000000

See docs/benchmarks.md for the figures and how to read them.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy.engine import make_url

from makegood.core.money import currency_exponent
from makegood.customers import snapshot
from makegood.customers.service import STORED as STORED_CUSTOMER_COLUMNS
from makegood.demo import synthetic
from makegood.demo.scenario import PROFILES, Outage, Scenario

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_DATA = BENCH_DIR / "data"
DEFAULT_RESULTS = BENCH_DIR / "results" / "impact_bench.jsonl"
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
ACTOR = "bench"
SERVICES = ("streaming", "shipping")
TABLES = ("customers", "usage_events", "shipments")
MANIFEST = "manifest.json"

# Targets from the issue.
QUERY_RATIO_MAX = 1.5  # makegood query phase / bare query
PEAK_RSS_MAX_MB = 2000.0  # 2 GB, decimal megabytes: the machine's limit
PEAK_RSS_TARGET_MB = 1500.0  # 1.5 GB at 10M customers
WHOLE_RATIO_MAX = 1.25  # whole run_impact / (bare query + bare COPY of the same rows)
STORE_RATIO_MIN = 2 / 3  # makegood store rows/s / bare COPY rows/s
IDLE_CORES = 0.1  # the machine counts as idle below this many busy cores
NOISY_CORES = 0.1  # a run during which others used more than this is measured again

# Minor units per major unit, for every currency the generator writes.
MINOR_PER_MAJOR = {p[3]: 10 ** currency_exponent(p[3]) for p in PROFILES}
# The generated customers have no billing system: billing_id stays NULL.
CUSTOMER_COLUMNS = (
    # The optional columns (billing id, phone, channel) stay empty here.
    *(c for c in STORED_CUSTOMER_COLUMNS if c not in ("billing_id", "phone", "channel")),
    "created_at",
    "updated_at",
)
IMPACT_COLUMNS = ("incident_id", "customer_id", "confidence", "magnitude", "rule", "evidence")
BARE_COPY_TABLE = "bench_bare_copy"


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------- helpers


def scenario_of(args: argparse.Namespace) -> Scenario:
    return Scenario(
        customers=args.customers, events=args.events, shipments=args.shipments, seed=args.seed
    )


def bench_now(s: Scenario) -> datetime:
    """'Now' for every run: twelve hours after the streaming outage, as in the demo."""
    return s.streaming.end + timedelta(hours=12)


def outage_of(s: Scenario, service: str) -> Outage:
    return s.streaming if service == "streaming" else s.shipping


def scenario_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir) / (
        f"c{args.customers}-e{args.events}-s{args.shipments}-seed{args.seed}"
    )


def data_files(args: argparse.Namespace) -> dict[str, Path]:
    d = scenario_dir(args)
    return {name: d / f"{name}.parquet" for name in TABLES}


def generator_fingerprint() -> str:
    """Files are reused only if the generator that wrote them has not changed."""
    return hashlib.sha256(inspect.getsource(synthetic).encode()).hexdigest()[:16]


# The code an impact run goes through, relative to the makegood package.
MEASURED_CODE = (
    "adapters/duckdb_engine.py",
    "impact/ports.py",
    "impact/models.py",
    "impact/rules.py",
    "impact/service.py",
    "impact/store.py",
    "adapters/duckdb_sources.py",
    "db/bulk.py",
)


def code_fingerprint() -> str:
    """A hash of the makegood code the impact run executes, as imported (so it follows
    PYTHONPATH): runs with different fingerprints measured different code."""
    import makegood

    root = Path(makegood.__file__).parent
    digest = hashlib.sha256()
    for name in MEASURED_CODE:
        path = root / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b""))
    return digest.hexdigest()[:16]


def rss_mb(field: str = "VmHWM") -> float:
    """VmHWM (peak) or VmRSS of this process, in MB (10^6 bytes).

    Not ru_maxrss: on Linux a child keeps the high-water mark of the process it was
    spawned from across exec, so ru_maxrss would report the parent's setup.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so each run has its own peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def ru_maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def conninfo(url: str) -> str:
    """A SQLAlchemy URL as a libpq connection string for psycopg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def duck_connect(memory_limit: str, threads: int | None) -> duckdb.DuckDBPyConnection:
    """The same settings makegood's engine uses: memory limit, threads, UTC."""
    config: dict[str, str | int] = {"memory_limit": memory_limit}
    if threads:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def lit(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat()}'"


def quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


# --------------------------------------------------------------------------- bare queries


def bare_usage_sql(
    files: dict[str, Path], start: datetime, end: datetime, services: tuple[str, ...]
) -> str:
    """failed_usage + habitual_usage written by hand, straight on the Parquet files.

    One scan of the events: the incident window plus the four windows 1-4 weeks
    earlier, each widened by two hours so any time zone's DST shift stays inside
    (the exact local-wall-clock test follows, per zone, after the join).
    """
    margin = timedelta(hours=2)
    earlier = " OR ".join(
        f"(occurred_at >= {lit(start - timedelta(days=7 * k) - margin)} "
        f"AND occurred_at < {lit(end - timedelta(days=7 * k) + margin)})"
        for k in range(1, 5)
    )
    svc = "(" + ", ".join(f"'{s}'" for s in services) + ")"
    in_window = f"occurred_at >= {lit(start)} AND occurred_at < {lit(end)}"
    minutes = int((end - start).total_seconds()) // 60
    return f"""
    WITH customers AS (
        SELECT customer_id, timezone FROM read_parquet({quoted(files["customers"])})
    ),
    weeks AS (
        SELECT tz, k,
               timezone(tz, timezone(tz, {lit(start)}) - to_days(7 * k)) AS lo,
               timezone(tz, timezone(tz, {lit(end)}) - to_days(7 * k)) AS hi
        FROM (SELECT DISTINCT timezone AS tz FROM customers),
             (SELECT CAST(range AS INTEGER) AS k FROM range(1, 5))
    ),
    ev AS (
        SELECT e.customer_id, e.service, e.occurred_at, e.outcome, c.timezone
        FROM read_parquet({quoted(files["usage_events"])}) e
        JOIN customers c ON c.customer_id = e.customer_id
        WHERE e.service IN {svc} AND (({in_window}) OR {earlier})
    ),
    during AS (
        SELECT customer_id, service,
               count(*) FILTER (WHERE outcome = 'error') AS errors,
               min(occurred_at) FILTER (WHERE outcome = 'error') AS first_error,
               max(occurred_at) FILTER (WHERE outcome = 'error') AS last_error
        FROM ev WHERE {in_window}
        GROUP BY customer_id, service
    ),
    failed AS (
        SELECT customer_id, sum(errors) AS errors, list_sort(list(service)) AS services,
               min(first_error) AS first_error, max(last_error) AS last_error
        FROM during WHERE errors > 0
        GROUP BY customer_id
    ),
    before AS (
        SELECT e.customer_id, e.service, list(DISTINCT w.k) AS weeks
        FROM ev e
        JOIN weeks w ON w.tz = e.timezone AND e.occurred_at >= w.lo AND e.occurred_at < w.hi
        GROUP BY e.customer_id, e.service
        HAVING count(DISTINCT w.k) >= 2
    ),
    habitual AS (
        SELECT b.customer_id, list_sort(list(b.service)) AS services,
               list_sort(flatten(list(b.weeks))) AS weeks
        FROM before b
        ANTI JOIN during d ON d.customer_id = b.customer_id AND d.service = b.service
        GROUP BY b.customer_id
    )
    SELECT customer_id, 'confirmed' AS confidence, errors AS magnitude, 'failed_usage' AS rule,
           CAST(json_object('rule', 'failed_usage', 'errors', errors, 'services', services,
                            'first_error_at', first_error, 'last_error_at', last_error)
                AS VARCHAR) AS evidence
    FROM failed
    UNION ALL
    SELECT customer_id, 'possible', {minutes}, 'habitual_usage',
           CAST(json_object('rule', 'habitual_usage', 'services', services,
                            'weeks_before_with_use', weeks) AS VARCHAR)
    FROM habitual ANTI JOIN failed f USING (customer_id)
    """


def bare_shipping_sql(files: dict[str, Path], start: datetime, end: datetime, now: datetime) -> str:
    """late_shipment written by hand: due in the window, shipped after due or not by now."""
    return f"""
    WITH due AS (
        SELECT customer_id, order_id, due_at,
               CASE WHEN shipped_at <= {lit(now)} THEN shipped_at END AS shipped
        FROM read_parquet({quoted(files["shipments"])})
        WHERE due_at >= {lit(start)} AND due_at < {lit(end)}
    )
    SELECT customer_id, 'confirmed' AS confidence,
           max(greatest(1, date_diff('second', due_at, coalesce(shipped, {lit(now)})) // 86400))
               AS magnitude,
           'late_shipment' AS rule,
           CAST(json_object('rule', 'late_shipment', 'late_orders', count(*),
                'orders', list(json_object('order_id', order_id, 'due_at', due_at,
                                           'shipped_at', shipped)
                               ORDER BY due_at, order_id)[1:5]) AS VARCHAR) AS evidence
    FROM due
    SEMI JOIN (SELECT customer_id FROM read_parquet({quoted(files["customers"])})) c
        USING (customer_id)
    WHERE shipped IS NULL OR shipped > due_at
    GROUP BY customer_id
    """


def bare_sql(args: argparse.Namespace, service: str) -> str:
    s = scenario_of(args)
    o = outage_of(s, service)
    files = data_files(args)
    if service == "shipping":
        return bare_shipping_sql(files, o.start, o.end, bench_now(s))
    return bare_usage_sql(files, o.start, o.end, (service,))


# --------------------------------------------------------------------------- child phases
# Each runs in a process of its own (this script with --phase), so its peak memory
# is its own and the parent's setup does not count.


def phase_generate(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    synthetic.generate(scenario_of(args), scenario_dir(args), "parquet", threads=args.threads)
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": rss_mb()}


def cpu_seconds(pids: tuple[int, ...] = ()) -> tuple[float, float, float]:
    """(CPU seconds busy on the whole machine, of this process, of ``pids``) so far."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    busy = (sum(fields) - fields[3] - fields[4]) / tick  # minus idle and iowait
    others = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as proc:
                parts = proc.read().rsplit(")", 1)[1].split()
            others += (int(parts[11]) + int(parts[12])) / tick  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return busy, time.process_time(), others


def other_cores(
    before: tuple[float, float, float], after: tuple[float, float, float], wall: float
) -> float:
    """Cores other processes kept busy during a run: the noise in its timing.

    Busy time of the machine minus this process's and (for impact runs) its
    PostgreSQL backend's, per second of wall time.
    """
    busy, own, backend = (a - b for a, b in zip(after, before, strict=True))
    return max(0.0, (busy - own - backend) / wall) if wall > 0 else 0.0


def phase_impact(args: argparse.Namespace) -> dict[str, Any]:
    """One `impact run`, as the CLI does it: run_impact in a unit of work, then commit."""
    from makegood.adapters.duckdb_engine import DuckDBEngine
    from makegood.campaigns.terms import Executed
    from makegood.db.engine import make_engine
    from makegood.db.uow import UnitOfWork
    from makegood.impact.service import run_impact

    s = scenario_of(args)
    engine = make_engine(args.database)
    duckdb = DuckDBEngine(args.memory_limit, args.threads)
    with engine.connect() as connection:  # the pool hands this connection to the run
        backend = int(connection.connection.driver_connection.info.backend_pid)
    baseline = rss_mb("VmRSS")
    reset = reset_peak_rss()
    before = cpu_seconds((backend,))
    with UnitOfWork(engine) as uow:
        started = time.perf_counter()
        report = run_impact(
            uow.session,
            args.incident,
            bench_now(s),
            ACTOR,
            engine=duckdb,
            executed=Executed(),
            snapshots=args.cache_dir,
        )
        ran = time.perf_counter()
        uow.commit()
        committed = time.perf_counter()
        used = int(uow.session.connection().connection.driver_connection.info.backend_pid)
    after = cpu_seconds((backend,))
    engine.dispose()
    return {
        "seconds": report.seconds,
        "commit": committed - ran,
        "wall": committed - started,
        "confirmed": report.confirmed,
        "possible": report.possible,
        "unknown_customers": report.unknown_customers,
        "rules": report.rules,
        "rss_before_mb": baseline,
        "peak_rss_mb": rss_mb() if reset else None,
        "ru_maxrss_mb": ru_maxrss_mb(),
        "cpu_seconds": after[1] - before[1],
        "backend_cpu_seconds": after[2] - before[2],
        "other_cores": other_cores(before, after, committed - started) if used == backend else None,
    }


def phase_bare_query(args: argparse.Namespace) -> dict[str, Any]:
    """One bare query, in a fresh DuckDB connection with makegood's settings."""
    sql = bare_sql(args, args.service)
    baseline = rss_mb("VmRSS")
    reset = reset_peak_rss()
    con = duck_connect(args.memory_limit, args.threads)
    before = cpu_seconds()
    started = time.perf_counter()
    table = con.sql(sql).to_arrow_table()
    elapsed = time.perf_counter() - started
    after = cpu_seconds()
    con.close()
    counts = {"confirmed": 0, "possible": 0}
    for value in table.column("confidence").to_pylist():
        counts[value] += 1
    if args.bare_out:
        pq.write_table(table, args.bare_out)
    return {
        "seconds": elapsed,
        "rows": table.num_rows,
        "counts": counts,
        "rss_before_mb": baseline,
        "peak_rss_mb": rss_mb() if reset else None,
        "cpu_seconds": after[1] - before[1],
        "other_cores": other_cores(before, after, elapsed),
    }


def phase_register(args: argparse.Namespace) -> dict[str, Any]:
    """Register both sources (add_source scans every row) and declare both incidents."""
    from makegood.adapters.duckdb_engine import DuckDBEngine
    from makegood.db.engine import make_engine
    from makegood.db.uow import UnitOfWork
    from makegood.incidents.service import Declaration, declare
    from makegood.sources.service import add_source

    s = scenario_of(args)
    now = bench_now(s)
    files = data_files(args)
    engine = make_engine(args.database)
    sources: dict[str, Any] = {}
    incidents: dict[str, int] = {}
    with UnitOfWork(engine) as uow:
        for table in ("usage_events", "shipments"):
            reset = reset_peak_rss()
            started = time.perf_counter()
            added = add_source(
                uow.session, table, str(files[table]), now, ACTOR, check=DuckDBEngine()
            )
            seconds = time.perf_counter() - started
            sources[table] = {
                "rows": added.rows,
                "seconds": seconds,
                "rows_per_s": added.rows / seconds,
                "peak_rss_mb": rss_mb() if reset else None,
            }
        for service in SERVICES:
            o = outage_of(s, service)
            incident = declare(
                uow.session,
                Declaration(
                    services=[o.service],
                    start=o.start,
                    end=o.end,
                    title=o.title,
                    summary=o.summary,
                ),
                now,
                ACTOR,
            )
            incidents[service] = incident.id
        uow.commit()
    engine.dispose()
    return {"sources": sources, "incidents": incidents}


def phase_import_customers(args: argparse.Namespace) -> dict[str, Any]:
    from makegood.customers.service import import_customers
    from makegood.db import migrate
    from makegood.db.engine import make_engine
    from makegood.db.uow import UnitOfWork

    engine = make_engine(args.database)
    migrate.upgrade(engine)
    reset_peak_rss()
    with UnitOfWork(engine) as uow:
        started = time.perf_counter()
        result = import_customers(
            uow.session, data_files(args)["customers"], bench_now(scenario_of(args))
        )
        ran = time.perf_counter()
        uow.commit()
        committed = time.perf_counter()
    engine.dispose()
    rows = result.imported + result.updated
    return {
        "rows": rows,
        "seconds": committed - started,
        "commit": committed - ran,
        "rows_per_s": rows / (committed - started),
        "peak_rss_mb": rss_mb(),
    }


PHASES = {
    "generate": phase_generate,
    "impact": phase_impact,
    "bare-query": phase_bare_query,
    "import-customers": phase_import_customers,
    "register": phase_register,
}


def child_argv(args: argparse.Namespace) -> list[str]:
    argv = [
        "--customers",
        str(args.customers),
        "--events",
        str(args.events),
        "--shipments",
        str(args.shipments),
        "--seed",
        str(args.seed),
        "--data-dir",
        str(args.data_dir),
        "--memory-limit",
        args.memory_limit,
        "--repeat",
        str(args.repeat),
    ]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    if args.cache_dir:
        argv += ["--cache-dir", str(args.cache_dir)]
    return argv


def machine_busy(seconds: float = 2.0) -> float:
    """Cores kept busy on the whole machine over the next ``seconds``."""
    before, started = cpu_seconds(), time.perf_counter()
    time.sleep(seconds)
    after = cpu_seconds()
    return (after[0] - before[0] - (after[1] - before[1])) / (time.perf_counter() - started)


def wait_idle(args: argparse.Namespace) -> tuple[float | None, float]:
    """Wait (up to --settle seconds) until the machine is idle; (busy cores seen, waited).

    The machine may be shared: another process on one of two cores halves DuckDB's
    speed. What was seen is recorded with each run.
    """
    started = time.perf_counter()
    busy = machine_busy() if args.settle > 0 else None
    while busy is not None and busy > IDLE_CORES and time.perf_counter() - started < args.settle:
        busy = machine_busy()
    return busy, time.perf_counter() - started


def settled(args: argparse.Namespace, phase: str, extra: list[str]) -> dict[str, Any]:
    """Wait for an idle machine, then run one measured child phase.

    A run that other processes disturbed anyway (more than NOISY_CORES busy beside
    it) is done again, up to --retries times; the discarded timings are kept.
    """
    discarded: list[dict[str, Any]] = []
    while True:
        busy, waited = wait_idle(args)
        result = run_child(phase, args, extra)
        result["busy_before"] = busy
        result["settle_waited"] = waited
        noisy = (result.get("other_cores") or 0) > NOISY_CORES
        if not noisy or len(discarded) >= args.retries:
            result["discarded"] = discarded
            return result
        discarded.append({k: result[k] for k in ("seconds", "other_cores", "busy_before")})


def run_child(
    phase: str, args: argparse.Namespace, extra: list[str], timeout: float | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="impact-bench-") as tmp:
        out, log = Path(tmp) / "out.json", Path(tmp) / "log.txt"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--phase",
            phase,
            "--phase-out",
            str(out),
            *child_argv(args),
            *extra,
        ]
        with log.open("wb") as sink:
            code = subprocess.run(
                cmd, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout, check=False
            ).returncode
        if code != 0:
            tail = log.read_text(errors="replace")[-4000:]
            raise BenchError(f"phase {phase} failed (exit {code}):\n{tail}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


# --------------------------------------------------------------------------- setup


def ensure_data(args: argparse.Namespace) -> dict[str, Any]:
    """Generate the Parquet files, or reuse them if the sizes, seed and generator match."""
    d, files = scenario_dir(args), data_files(args)
    expected = {
        "customers": args.customers,
        "usage_events": args.events,
        "shipments": args.shipments,
    }
    manifest_path = d / MANIFEST
    fingerprint = generator_fingerprint()
    if manifest_path.exists() and all(f.exists() for f in files.values()):
        manifest = json.loads(manifest_path.read_text())
        rows = {name: pq.ParquetFile(files[name]).metadata.num_rows for name in TABLES}
        if (
            manifest.get("rows") == expected
            and rows == expected
            and manifest.get("seed") == args.seed
            and manifest.get("generator") == fingerprint
        ):
            return {
                "reused": True,
                "seconds": manifest.get("seconds"),
                "dir": str(d),
                "bytes": {n: files[n].stat().st_size for n in TABLES},
            }
    manifest_path.unlink(missing_ok=True)
    d.mkdir(parents=True, exist_ok=True)
    print(
        f"generating {args.customers:,} customers, {args.events:,} events, "
        f"{args.shipments:,} shipments into {d} ...",
        flush=True,
    )
    generated = run_child("generate", args, [])
    manifest_path.write_text(
        json.dumps(
            {
                "rows": expected,
                "seed": args.seed,
                "generator": fingerprint,
                "seconds": generated["seconds"],
                "peak_rss_mb": generated["peak_rss_mb"],
                "generated_at": datetime.now(UTC).isoformat(),
            },
            indent=2,
        )
    )
    return {
        "reused": False,
        "seconds": generated["seconds"],
        "dir": str(d),
        "peak_rss_mb": generated["peak_rss_mb"],
        "bytes": {n: files[n].stat().st_size for n in TABLES},
    }


def admin_conninfo(server: str) -> str:
    return conninfo(server.rstrip("/") + "/postgres")


def create_database(server: str, name: str) -> str:
    with psycopg.connect(admin_conninfo(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.rstrip("/") + "/" + name


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(admin_conninfo(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def customers_csv(
    con: duckdb.DuckDBPyConnection, path: Path, now: datetime, batch_rows: int = 200_000
) -> Iterator[bytes]:
    """The customers file as CSV rows for the customers table, prices in minor units.

    ``monthly_price`` is a decimal string in major units; it is split at the point and
    the fraction right-padded to the currency's exponent, so the conversion is exact.
    A price with more decimals than its currency has, or an unknown currency, stops
    the benchmark rather than round.
    """
    mult = " ".join(f"WHEN '{c}' THEN {m}" for c, m in MINOR_PER_MAJOR.items())
    digits = " ".join(f"WHEN '{c}' THEN {len(str(m)) - 1}" for c, m in MINOR_PER_MAJOR.items())
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW priced AS
        SELECT *, CAST(split_part(monthly_price, '.', 1) AS BIGINT) * mult
                  + CASE WHEN exponent = 0 THEN 0
                         ELSE CAST(rpad(split_part(monthly_price, '.', 2), exponent, '0')
                                   AS BIGINT) END AS minor
        FROM (SELECT *, CASE currency {mult} END AS mult, CASE currency {digits} END AS exponent
              FROM read_parquet({quoted(path)}))
        WHERE mult IS NOT NULL AND regexp_full_match(monthly_price, '[0-9]+(\\.[0-9]+)?')
              AND length(split_part(monthly_price, '.', 2)) <= exponent
    """)
    total, kept, wrong = con.execute(
        f"SELECT (SELECT count(*) FROM read_parquet({quoted(path)})), count(*), "
        "count(*) FILTER (WHERE CAST(monthly_price AS DECIMAL(18, 3)) * mult <> minor) "
        "FROM priced"
    ).fetchall()[0]
    if kept != total or wrong:
        raise BenchError(
            f"{path}: {total - kept} price(s) with an unknown currency or more "
            f"decimals than the currency has, {wrong} converted inexactly"
        )
    stamp = now.isoformat()
    reader = con.sql(
        "SELECT customer_id, email, first_name, locale, timezone, country, status, plan, "
        "minor AS monthly_price_minor, currency, next_bill_date, "
        f"'{stamp}' AS created_at, '{stamp}' AS updated_at FROM priced"
    ).to_arrow_reader(batch_rows)
    options = pacsv.WriteOptions(include_header=False)
    for batch in reader:
        buffer = io.BytesIO()
        pacsv.write_csv(batch, buffer, options)
        yield buffer.getvalue()


def load_customers(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """Setup: customers straight into the customers table with COPY (not the product path)."""
    path = data_files(args)["customers"]
    with psycopg.connect(conninfo(url)) as conn:
        existing = conn.execute("SELECT count(*) FROM customers").fetchone()
        if existing and existing[0]:
            if existing[0] == args.customers:
                return {"reused": True, "rows": existing[0]}
            raise BenchError(
                f"the database already holds {existing[0]:,} customers, "
                f"not {args.customers:,}; use an empty database"
            )
        con = duck_connect(args.memory_limit, args.threads)
        started = time.perf_counter()
        cols = ", ".join(CUSTOMER_COLUMNS)
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY customers ({cols}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            for chunk in customers_csv(con, path, bench_now(scenario_of(args))):
                copy.write(chunk)
        conn.commit()
        loaded = time.perf_counter() - started
        con.close()
        rows = conn.execute("SELECT count(*) FROM customers").fetchone()
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE customers")
        vacuum = time.perf_counter() - started
    count = rows[0] if rows else 0
    return {
        "reused": False,
        "rows": count,
        "seconds": loaded,
        "rows_per_s": count / loaded,
        "vacuum_analyze_seconds": vacuum,
    }


# --------------------------------------------------------------------------- comparisons


def impacts_table(url: str, incident_id: int) -> pa.Table:
    """(customer_id, confidence, magnitude, rule) of one incident, from PostgreSQL."""
    buffer = io.BytesIO()
    with (
        psycopg.connect(conninfo(url)) as conn,
        conn.cursor() as cursor,
        cursor.copy(
            "COPY (SELECT customer_id, confidence, magnitude, rule FROM impacts "
            f"WHERE incident_id = {int(incident_id)}) TO STDOUT WITH (FORMAT csv)"
        ) as copy,
    ):
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    schema = {
        "customer_id": pa.string(),
        "confidence": pa.string(),
        "magnitude": pa.int64(),
        "rule": pa.string(),
    }
    return pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=list(schema)),
        convert_options=pacsv.ConvertOptions(column_types=schema, strings_can_be_null=False),
    )


def compare_rows(url: str, incident_id: int, bare_file: Path) -> dict[str, int]:
    """Row by row: which customers only one side found, or found with another verdict."""
    con = duck_connect("1GB", None)
    con.register("mine", impacts_table(url, incident_id))
    found = con.execute(f"""
        SELECT count(*) FILTER (WHERE b.customer_id IS NULL),
               count(*) FILTER (WHERE m.customer_id IS NULL),
               count(*) FILTER (WHERE m.customer_id IS NOT NULL AND b.customer_id IS NOT NULL
                   AND (m.confidence, m.magnitude, m.rule)
                       IS DISTINCT FROM (b.confidence, b.magnitude, b.rule))
        FROM mine m FULL OUTER JOIN read_parquet({quoted(bare_file)}) b
            ON m.customer_id = b.customer_id
    """).fetchall()[0]
    con.close()
    return {"only_makegood": int(found[0]), "only_bare": int(found[1]), "different": int(found[2])}


def bare_copy(url: str, incident_id: int, args: argparse.Namespace) -> dict[str, Any]:
    """COPY the incident's impact rows into a fresh table with the same columns and key.

    Two ways: ``text`` streams the rows as PostgreSQL already formatted them (what the
    server itself costs), ``rows`` writes Python tuples with ``copy.write_row`` (the
    usual psycopg way). The target compares against ``text``, the faster of the two.
    """
    cols = ", ".join(IMPACT_COLUMNS)
    source = f"SELECT {cols} FROM impacts WHERE incident_id = {int(incident_id)}"
    ddl = (
        f"CREATE TABLE {BARE_COPY_TABLE} (incident_id INTEGER, customer_id VARCHAR(200), "
        "confidence VARCHAR(9), magnitude BIGINT, rule VARCHAR(64), evidence TEXT, "
        "PRIMARY KEY (incident_id, customer_id))"
    )
    with psycopg.connect(conninfo(url)) as conn:
        text = io.BytesIO()
        with conn.cursor() as cursor, cursor.copy(f"COPY ({source}) TO STDOUT") as copy:
            for block in copy:
                text.write(block)
        payload = text.getvalue()
        rows = conn.execute(source).fetchall()
        conn.commit()
        results: dict[str, Any] = {"rows": len(rows), "bytes": len(payload)}
        for way in ("text", "rows"):
            runs = []
            for _ in range(args.repeat):
                conn.execute(f"DROP TABLE IF EXISTS {BARE_COPY_TABLE}")
                conn.execute(ddl)
                conn.commit()
                busy, waited = wait_idle(args)
                started = time.perf_counter()
                with (
                    conn.cursor() as cursor,
                    cursor.copy(f"COPY {BARE_COPY_TABLE} ({cols}) FROM STDIN") as copy,
                ):
                    if way == "text":
                        for at in range(0, len(payload), 1 << 20):
                            copy.write(payload[at : at + (1 << 20)])
                    else:
                        for row in rows:
                            copy.write_row(row)
                copied = time.perf_counter()
                conn.commit()
                committed = time.perf_counter()
                runs.append(
                    {
                        "copy": copied - started,
                        "commit": committed - copied,
                        "busy_before": busy,
                        "settle_waited": waited,
                    }
                )
            seconds = median([r["copy"] for r in runs])
            results[way] = {
                "runs": runs,
                "seconds": seconds,
                "rows_per_s": len(rows) / seconds if seconds else None,
            }
        conn.execute(f"DROP TABLE IF EXISTS {BARE_COPY_TABLE}")
        conn.commit()
    return results


# --------------------------------------------------------------------------- machine


def memory_and_cpu() -> dict[str, Any]:
    """The machine's memory (GB) and CPU model, from /proc (empty where unreadable)."""
    info: dict[str, Any] = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    info["mem_total_gb"] = round(int(line.split()[1]) * 1024 / 1e9, 1)
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
        "psycopg": psycopg.__version__,
        "kernel": platform.release(),
    }
    info.update(memory_and_cpu())
    try:
        repo = BENCH_DIR.parent
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        info["git_src_dirty"] = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "src"],
                cwd=repo,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
        )
    except OSError:
        pass
    return info


def server_version(url: str) -> str:
    with psycopg.connect(conninfo(url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


# --------------------------------------------------------------------------- report


def summarise(record: dict[str, Any]) -> dict[str, Any]:
    """Medians per incident, and each target with its figure and verdict."""
    summary: dict[str, Any] = {}
    for service in SERVICES:
        runs = record["impact"][service]["runs"]
        phases = {key: median([r["seconds"][key] for r in runs]) for key in runs[0]["seconds"]}
        impacts = runs[-1]["confirmed"] + runs[-1]["possible"]
        bare_q = median([r["seconds"] for r in record["bare_query"][service]["runs"]])
        copy = record["bare_copy"][service]
        store_rate = impacts / phases["store"] if phases["store"] else None
        # The very first execution stored into an empty set (no DELETE), even if its
        # timing was then discarded as disturbed.
        first = (runs[0]["discarded"] or [runs[0]])[0]["seconds"]
        first_store_rate = impacts / first["store"] if first["store"] else None
        bare_rate = copy["text"]["rows_per_s"]
        bare_runs = record["bare_query"][service]["runs"]
        peaks = [r["peak_rss_mb"] for r in runs if r["peak_rss_mb"] is not None]
        bare_peaks = [r["peak_rss_mb"] for r in bare_runs if r["peak_rss_mb"] is not None]
        noise = [r["other_cores"] for r in [*runs, *bare_runs] if r.get("other_cores") is not None]
        summary[service] = {
            "impacts": impacts,
            "confirmed": runs[-1]["confirmed"],
            "possible": runs[-1]["possible"],
            "phases": phases,
            "commit": median([r["commit"] for r in runs]),
            "bare_query_seconds": bare_q,
            "bare_counts": record["bare_query"][service]["counts"],
            "query_ratio": phases["query"] / bare_q if bare_q else None,
            "store_rows_per_s": store_rate,
            "first_store_rows_per_s": first_store_rate,
            "bare_copy_rows_per_s": bare_rate,
            "bare_copy_write_row_rows_per_s": copy["rows"]["rows_per_s"],
            "store_ratio": store_rate / bare_rate if store_rate and bare_rate else None,
            # The whole run against the same work done by hand: the bare query, then
            # a bare COPY of the same rows at its measured rate.
            "bare_copy_seconds": impacts / bare_rate if bare_rate else None,
            "whole_ratio": (
                phases["total"] / (bare_q + impacts / bare_rate) if bare_q and bare_rate else None
            ),
            "pairwise_query_ratios": [
                r["seconds"]["query"] / b["seconds"] for r, b in zip(runs, bare_runs, strict=True)
            ],
            "peak_rss_mb": max(peaks) if peaks else float("nan"),
            "bare_peak_rss_mb": max(bare_peaks) if bare_peaks else float("nan"),
            "max_other_cores": max(noise) if noise else None,
            "rows_compared": record["row_check"][service],
        }
    worst_peak = max(summary[s]["peak_rss_mb"] for s in SERVICES)
    summary["targets"] = {
        "query_within_1.5x_of_bare": {
            "value": summary["streaming"]["query_ratio"],
            "shipping": summary["shipping"]["query_ratio"],
            "met": summary["streaming"]["query_ratio"] <= QUERY_RATIO_MAX,
        },
        "peak_rss_under_2GB": {"value": worst_peak, "met": worst_peak < PEAK_RSS_MAX_MB},
        "peak_rss_at_most_1.5GB": {"value": worst_peak, "met": worst_peak <= PEAK_RSS_TARGET_MB},
        "whole_run_within_1.25x_of_bare_query_plus_copy": {
            "value": summary["streaming"]["whole_ratio"],
            "shipping": summary["shipping"]["whole_ratio"],
            "met": all((summary[s]["whole_ratio"] or 99) <= WHOLE_RATIO_MAX for s in SERVICES),
        },
        "store_at_least_2/3_of_bare_copy": {
            "value": min(summary[s]["store_ratio"] or 0 for s in SERVICES),
            "per_incident": {s: summary[s]["store_ratio"] for s in SERVICES},
            "met": all((summary[s]["store_ratio"] or 0) >= STORE_RATIO_MIN for s in SERVICES),
        },
    }
    return summary


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_report(record: dict[str, Any]) -> None:
    a, m, setup, summ = record["args"], record["machine"], record["setup"], record["summary"]
    print()
    print(
        f"makegood impact benchmark: {a['customers']:,} customers, {a['events']:,} events, "
        f"{a['shipments']:,} shipments (seed {a['seed']}); DuckDB memory_limit "
        f"{a['memory_limit']}, threads {a['threads'] or 'default'}; median of {a['repeat']}"
    )
    print(
        f"machine: {m['nproc']} cores, {m.get('mem_total_gb', '?')} GB; duckdb {m['duckdb']}, "
        f"PostgreSQL {m.get('postgresql', '?')}, Python {m['python']}"
    )
    code = record["code"]
    print(
        f"code: {code['package']} (git {m.get('git_commit', '?')}"
        f"{', src modified' if m.get('git_src_dirty') else ''}; measured-code fingerprint "
        f"{code['fingerprint']})"
    )
    if code["changed_during_run"]:
        print(f"WARNING: the measured code changed during the run ({', '.join(code['runs'])})")
    data = setup["data"]
    gen = "reused" if data["reused"] else "generated"
    print(
        f"setup: data {gen} ({data['seconds'] or 0:.1f} s to generate); customers "
        + (
            f"COPY {setup['customers']['rows']:,} rows in {setup['customers']['seconds']:.1f} s "
            f"({setup['customers']['rows_per_s']:,.0f} rows/s), VACUUM ANALYZE "
            f"{setup['customers']['vacuum_analyze_seconds']:.1f} s"
            if not setup["customers"]["reused"]
            else "already loaded"
        )
    )
    for table, src in setup["sources"].items():
        print(
            f"       sources add {table}: {src['rows']:,} rows in {src['seconds']:.1f} s "
            f"({src['rows_per_s']:,.0f} rows/s)"
        )
    imp = setup.get("import_customers")
    if imp and "rows_per_s" in imp:
        print(
            f"       customers import (makegood, informative): {imp['rows']:,} rows in "
            f"{imp['seconds']:.1f} s ({imp['rows_per_s']:,.0f} rows/s, peak RSS "
            f"{imp['peak_rss_mb']:,.0f} MB)"
        )
    elif imp:
        print(f"       customers import (makegood, informative): {imp.get('skipped')}")
    print()
    w = 34
    print(f"{'':{w}} {'streaming':>14} {'shipping':>14}   target")
    st, sh = summ["streaming"], summ["shipping"]

    def row(label: str, fmt: str, key: str, note: str = "") -> None:
        values = []
        for s in (st, sh):
            v = s
            for part in key.split("."):
                v = v[part] if v is not None else None
            values.append(format(v, fmt) if v is not None else "-")
        print(f"{label:{w}} {values[0]:>14} {values[1]:>14}   {note}")

    row("impacts confirmed", ",", "confirmed")
    row("impacts possible", ",", "possible")
    row("bare query confirmed", ",", "bare_counts.confirmed")
    row("bare query possible", ",", "bare_counts.possible")
    row("phase load_customers (s)", ".3f", "phases.load_customers")
    row("phase query (s)", ".3f", "phases.query")
    row("phase store (s)", ".3f", "phases.store")
    row("phase total (s)", ".3f", "phases.total")
    row("commit after run_impact (s)", ".3f", "commit")
    row("bare DuckDB query (s)", ".3f", "bare_query_seconds")
    t = summ["targets"]
    row(
        "query / bare query (x)",
        ".2f",
        "query_ratio",
        f"<= {QUERY_RATIO_MAX} ({verdict(t['query_within_1.5x_of_bare']['met'])}, streaming)",
    )
    row("bare COPY of the same rows (s)", ".3f", "bare_copy_seconds")
    row(
        "total / (bare query + bare COPY)",
        ".2f",
        "whole_ratio",
        f"<= {WHOLE_RATIO_MAX} "
        f"({verdict(t['whole_run_within_1.25x_of_bare_query_plus_copy']['met'])}, both)",
    )
    row("store rows/s (median run)", ",.0f", "store_rows_per_s")
    row("store rows/s (first run, no DELETE)", ",.0f", "first_store_rows_per_s")
    row("bare COPY rows/s (text)", ",.0f", "bare_copy_rows_per_s")
    row("bare COPY rows/s (write_row)", ",.0f", "bare_copy_write_row_rows_per_s")
    row(
        "store / bare COPY",
        ".2f",
        "store_ratio",
        f">= 0.67 ({verdict(t['store_at_least_2/3_of_bare_copy']['met'])})",
    )
    row(
        "peak RSS impact run (MB)",
        ",.0f",
        "peak_rss_mb",
        f"<= {PEAK_RSS_TARGET_MB:,.0f} ({verdict(t['peak_rss_at_most_1.5GB']['met'])}); "
        f"< {PEAK_RSS_MAX_MB:,.0f} ({verdict(t['peak_rss_under_2GB']['met'])})",
    )
    row("peak RSS bare query (MB)", ",.0f", "bare_peak_rss_mb")
    row(
        "other processes, max (cores busy)",
        ".2f",
        "max_other_cores",
        f"noise; > {NOISY_CORES} means the timings were disturbed",
    )
    print()
    for service in SERVICES:
        s = summ[service]
        same = (
            s["bare_counts"]["confirmed"] == s["confirmed"]
            and s["bare_counts"]["possible"] == s["possible"]
        )
        diff = s["rows_compared"]
        print(
            f"{service}: counts {'equal' if same else 'DIFFER'} (makegood {s['confirmed']:,}/"
            f"{s['possible']:,}, bare {s['bare_counts']['confirmed']:,}/"
            f"{s['bare_counts']['possible']:,} confirmed/possible); row check: "
            f"{diff['only_makegood']} only in makegood, {diff['only_bare']} only in bare, "
            f"{diff['different']} with another confidence/magnitude/rule"
        )
        if (s["max_other_cores"] or 0) > NOISY_CORES:
            print(
                f"WARNING: other processes kept up to {s['max_other_cores']:.2f} cores busy "
                f"during the {service} runs; rerun on a quiet machine"
            )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--shipments", type=int, default=None, help="default: customers // 2")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA,
        help="generated files go to DATA_DIR/c<n>-e<n>-s<n>-seed<n>/ and are "
        "reused when sizes, seed and generator match (default: bench/data)",
    )
    p.add_argument(
        "--database",
        default=None,
        help="SQLAlchemy URL of an existing database to use (kept); default: a "
        "fresh database makegood_bench_<pid> on --server, dropped at the end",
    )
    p.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help=f"PostgreSQL server for the fresh database (default {DEFAULT_SERVER})",
    )
    p.add_argument(
        "--keep-database",
        action="store_true",
        help="do not drop the fresh database at the end (for investigation)",
    )
    p.add_argument(
        "--json-out",
        type=Path,
        default=DEFAULT_RESULTS,
        help="append the result record to this JSON Lines file "
        "(default bench/results/impact_bench.jsonl; '' to skip)",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median)")
    p.add_argument(
        "--memory-limit",
        default="1GB",
        help="DuckDB memory_limit for makegood and the bare query (makegood's "
        "default setting is 1GB)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="DuckDB threads for both (default: DuckDB's own, one per core)",
    )
    p.add_argument(
        "--import-customers",
        choices=("auto", "yes", "no"),
        default="auto",
        help="also time makegood's own customers import in a scratch database "
        "(auto: only up to 1,000,000 customers)",
    )
    p.add_argument("--import-timeout", type=float, default=1800.0)
    p.add_argument(
        "--retries",
        type=int,
        default=3,
        help="measure a run again when other processes disturbed it, up to this many times",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=120.0,
        help="before each measured run, wait up to this many seconds for the "
        "machine to be idle (0: do not wait)",
    )
    # Internal: one measured phase in a child process.
    p.add_argument("--phase", choices=tuple(PHASES), help=argparse.SUPPRESS)
    p.add_argument("--phase-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--incident", type=int, help=argparse.SUPPRESS)
    p.add_argument("--service", choices=SERVICES, help=argparse.SUPPRESS)
    p.add_argument("--bare-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument(
        "--cache-dir",
        type=Path,
        help="makegood's cache_dir, where the customers snapshot goes (default: a fresh "
        "directory beside the generated data, written as `customers import` would)",
    )
    args = p.parse_args(argv)
    if args.shipments is None:
        args.shipments = args.customers // 2
    args.data_dir = args.data_dir.resolve()
    if min(args.customers, args.events, args.shipments, args.repeat) < 1:
        p.error("--customers, --events, --shipments and --repeat must be at least 1")
    return args


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from makegood.db import migrate
    from makegood.db.engine import make_engine

    record: dict[str, Any] = {
        "bench": "impact",
        "started_at": datetime.now(UTC).isoformat(),
        "args": {
            "customers": args.customers,
            "events": args.events,
            "shipments": args.shipments,
            "seed": args.seed,
            "memory_limit": args.memory_limit,
            "threads": args.threads,
            "repeat": args.repeat,
        },
        "machine": machine(),
    }
    import makegood

    record["code"] = {
        "package": str(Path(makegood.__file__).parent),
        "fingerprint": code_fingerprint(),
    }
    setup: dict[str, Any] = {"data": ensure_data(args)}
    record["setup"] = setup
    fresh = args.database is None
    name = f"makegood_bench_{os.getpid()}"
    url = create_database(args.server, name) if fresh else args.database
    try:
        record["machine"]["postgresql"] = server_version(url)
        engine = make_engine(url)
        started = time.perf_counter()
        migrate.upgrade(engine)
        engine.dispose()
        setup["migrate_seconds"] = time.perf_counter() - started
        print("loading customers with COPY ...", flush=True)
        setup["customers"] = load_customers(args, url)
        # What `customers import` does once it has committed: the snapshot of
        # (customer_id, timezone) that impact runs read instead of the table.
        if args.cache_dir is None:
            args.cache_dir = Path(tempfile.mkdtemp(prefix="cache-", dir=args.data_dir))
        started = time.perf_counter()
        engine = make_engine(url)
        snapshot.refresh(engine, args.cache_dir)
        engine.dispose()
        setup["customers_snapshot_seconds"] = time.perf_counter() - started
        print("registering sources (add_source), declaring incidents ...", flush=True)
        declared = run_child("register", args, ["--database", url])
        setup["sources"], setup["incidents"] = declared["sources"], declared["incidents"]
        want_import = args.import_customers == "yes" or (
            args.import_customers == "auto" and args.customers <= 1_000_000
        )
        if want_import:
            setup["import_customers"] = time_import(args)
        else:
            setup["import_customers"] = {
                "skipped": "not run at this size (--import-customers yes to force)"
            }

        record["impact"], record["bare_query"] = {}, {}
        record["row_check"], record["bare_copy"] = {}, {}
        with tempfile.TemporaryDirectory(prefix="impact-bench-") as tmp:
            for service in SERVICES:
                incident = setup["incidents"][service]
                bare_file = Path(tmp) / f"bare_{service}.parquet"
                impact_runs: list[dict[str, Any]] = []
                bare_runs: list[dict[str, Any]] = []
                # Alternate the two, each in a fresh process, so both see the same machine.
                for i in range(args.repeat):
                    print(
                        f"{service}: impact run {i + 1}/{args.repeat} (incident {incident}), "
                        "then bare query ...",
                        flush=True,
                    )
                    impact_runs.append(
                        settled(args, "impact", ["--database", url, "--incident", str(incident)])
                    )
                    bare_runs.append(
                        settled(
                            args,
                            "bare-query",
                            ["--service", service, "--bare-out", str(bare_file)],
                        )
                    )
                record["impact"][service] = {"runs": impact_runs}
                record["bare_query"][service] = {
                    "runs": bare_runs,
                    "counts": bare_runs[-1]["counts"],
                }
                record["row_check"][service] = compare_rows(url, incident, bare_file)
                print(f"{service}: bare COPY x{args.repeat} ...", flush=True)
                record["bare_copy"][service] = bare_copy(url, incident, args)
    finally:
        if fresh and not args.keep_database:
            drop_database(args.server, name)
        elif fresh:
            print(f"kept database {url}")
    record["finished_at"] = datetime.now(UTC).isoformat()
    seen = {
        r["code"]
        for part in ("impact", "bare_query")
        for service in SERVICES
        for r in record[part][service]["runs"]
    }
    record["code"]["runs"] = sorted(seen)
    record["code"]["changed_during_run"] = seen != {record["code"]["fingerprint"]}
    record["summary"] = summarise(record)
    return record


def time_import(args: argparse.Namespace) -> dict[str, Any]:
    """makegood's own customers import, in a scratch database (informative)."""
    name = f"makegood_bench_{os.getpid()}_import"
    url = create_database(args.server, name)
    print(f"timing makegood customers import of {args.customers:,} rows ...", flush=True)
    try:
        return run_child("import-customers", args, ["--database", url], timeout=args.import_timeout)
    except subprocess.TimeoutExpired:
        return {"skipped": f"did not finish within {args.import_timeout:.0f} s"}
    finally:
        drop_database(args.server, name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.phase:
        result = PHASES[args.phase](args)
        result["code"] = code_fingerprint()
        args.phase_out.write_text(json.dumps(result))
        return 0
    record = run_benchmark(args)
    print_report(record)
    if str(args.json_out) not in ("", "."):
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        with args.json_out.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        print(f"\nrecord appended to {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
