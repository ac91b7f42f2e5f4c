"""Benchmark of `makegood impact run` on Apache Spark (local[2]) beside DuckDB.

Both engines run makegood's own ``run_impact`` on the same generated Parquet files, in
the same fresh PostgreSQL database, for the streaming and the shipping incident. Each
measurement is a fresh process; the engines alternate (DuckDB, Spark, then Spark,
DuckDB, ...) ``--repeat`` times, and medians are reported. A Spark process runs the
incident ``1 + --warm`` times: the first run starts the session (cold), the others
reuse it (warm). After each run the stored impacts are counted and checksummed, so
the two engines are seen to store the same rows.

    python bench/spark_bench.py --customers 1000000 --events 10000000
    python bench/spark_bench.py --customers 10000000 --events 100000000 --warm 0

Setup (data, database, customers by COPY, sources, incidents) is impact_bench.py's,
imported from it. See docs/benchmarks.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

import impact_bench as ib

# The measured code: impact_bench's list (the DuckDB path) and the Spark engine's files.
ib.MEASURED_CODE = (
    *ib.MEASURED_CODE,
    *(f"adapters/spark_{m}.py" for m in ("engine", "session", "sql")),
)
DEFAULT_RESULTS = ib.BENCH_DIR / "results" / "spark_bench.jsonl"
ENGINES = ("duckdb", "spark")
ARGS = ("customers", "events", "shipments", "seed", "memory_limit", "threads", "repeat", "warm")
PHASES = ("load_customers", "spark_start", "query", "store", "total")
CHECK_SQL = """
SELECT count(*) FILTER (WHERE confidence = 'confirmed'),
       count(*) FILTER (WHERE confidence = 'possible'),
       coalesce(sum(hashtext(concat_ws('|', customer_id, confidence, magnitude, rule)))::text, '0'),
       coalesce(sum(hashtext(concat_ws('|', customer_id, evidence)))::text, '0')
FROM impacts WHERE incident_id = %s
"""


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (the JVM that PySpark starts, and any of its own)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def reset_peak(pid: int) -> bool:
    """Reset another process's VmHWM to its current RSS (same user, Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def children_peaks(pids: list[int]) -> list[dict[str, Any]]:
    """Name and VmHWM (MB, 10^6 bytes) of each process; None for one that is gone."""
    peaks = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as lines:
                status = dict(line.split(":", 1) for line in lines if ":" in line)
        except OSError:
            status = {}
        hwm = status.get("VmHWM")
        peak = int(hwm.split()[0]) * 1024 / 1e6 if hwm else None
        peaks.append({"pid": pid, "name": status.get("Name", "?").strip(), "peak_mb": peak})
    return peaks


def make_engine(args: argparse.Namespace) -> Any:
    if args.engine == "duckdb":
        from makegood.adapters.duckdb_engine import DuckDBEngine

        return DuckDBEngine(args.memory_limit, args.threads)
    from makegood.adapters.spark_engine import SparkEngine
    from makegood.config import SparkSettings

    return SparkEngine(SparkSettings(master=args.spark_master, conf=spark_conf(args)))


def spark_conf(args: argparse.Namespace) -> dict[str, str]:
    conf = {"spark.driver.memory": args.driver_memory}
    if args.spark_local_dir:
        conf["spark.local.dir"] = str(args.spark_local_dir)
    conf.update(item.split("=", 1) for item in args.spark_conf)  # KEY=VALUE
    return conf


def one_run(args: argparse.Namespace, db: Any, impact_engine: Any, backend: int) -> dict:
    """One run_impact in a unit of work, then the commit, as `makegood impact run` does."""
    from makegood.campaigns.terms import Executed
    from makegood.db.uow import UnitOfWork
    from makegood.impact.service import run_impact

    me, now = os.getpid(), ib.bench_now(ib.scenario_of(args))
    kids = descendants(me)
    reset = ib.reset_peak_rss()
    engines = {"engine": impact_engine, "executed": Executed()}
    kids_reset = all(reset_peak(pid) for pid in kids) if kids else None
    before = ib.cpu_seconds((backend, *kids))
    with UnitOfWork(db) as uow:
        started = time.perf_counter()
        report = run_impact(uow.session, args.incident, now, ib.ACTOR, **engines)
        ran = time.perf_counter()
        uow.commit()
        committed = time.perf_counter()
        used = int(uow.session.connection().connection.driver_connection.info.backend_pid)
    kids = descendants(me)
    after = ib.cpu_seconds((backend, *kids))
    return {
        "seconds": report.seconds,
        "commit": committed - ran,
        "wall": committed - started,
        "confirmed": report.confirmed,
        "possible": report.possible,
        "unknown_customers": report.unknown_customers,
        "python_peak_rss_mb": ib.rss_mb() if reset else None,
        "children": children_peaks(kids),
        "children_peak_reset": kids_reset,
        "python_cpu_seconds": after[1] - before[1],
        "children_and_backend_cpu_seconds": after[2] - before[2],
        "other_cores": ib.other_cores(before, after, committed - started)
        if used == backend
        else None,
    }


def phase_run(args: argparse.Namespace) -> dict[str, Any]:
    """``--runs`` impact runs of one incident with one engine, in this process."""
    from makegood.db.engine import make_engine as make_db

    db = make_db(args.database)
    impact_engine = make_engine(args)
    with db.connect() as connection:  # the pool hands this connection to the runs
        backend = int(connection.connection.driver_connection.info.backend_pid)
    runs = [one_run(args, db, impact_engine, backend) for _ in range(args.runs)]
    db.dispose()
    return {"runs": runs}


def measure(args: argparse.Namespace, url: str, engine: str, incident: int) -> dict[str, Any]:
    """One fresh process for ``engine``; its runs, or the error it failed with."""
    busy, waited = ib.wait_idle(args)
    runs = 1 + args.warm if engine == "spark" else 1
    out = Path(args.spark_local_dir) / f"out-{engine}-{incident}.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        *child_argv(args),
        *("--phase", "run", "--phase-out", str(out), "--database", url),
        *("--engine", engine, "--incident", str(incident), "--runs", str(runs)),
    ]
    env = {**os.environ, "TMPDIR": str(args.spark_local_dir)}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=args.timeout, check=False
        )
        code, log = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code, log = None, f"timed out after {args.timeout:.0f} s: {exc.stderr!r}"[-4000:]
    result: dict[str, Any] = {"engine": engine, "process_wall": time.perf_counter() - started}
    result.update(busy_before=busy, settle_waited=waited, log_tail=log[-2000:])
    if code == 0:
        result.update(json.loads(out.read_text()), stored=stored(url, incident))
    else:
        result["error"] = {"exit": code, "log_tail": log[-4000:]}
        if engine == "spark":
            result["error"]["spark_conf"] = spark_conf(args)
    return result


def stored(url: str, incident: int) -> dict[str, Any]:
    """What the incident's last run stored: counts, and order-free checksums of the rows
    (customer, confidence, magnitude, rule) and of each customer's evidence."""
    with psycopg.connect(ib.conninfo(url)) as conn:
        row = conn.execute(CHECK_SQL, (incident,)).fetchone()
    assert row is not None
    return dict(zip(("confirmed", "possible", "rows_sum", "evidence_sum"), row, strict=True))


def child_argv(args: argparse.Namespace) -> list[str]:
    argv = ib.child_argv(args)
    argv += ["--spark-master", args.spark_master, "--driver-memory", args.driver_memory]
    argv += ["--spark-local-dir", str(args.spark_local_dir)]
    for item in args.spark_conf:
        argv += ["--spark-conf", item]
    return argv


def measure_incident(args: argparse.Namespace, url: str, service: str, incident: int) -> dict:
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in ENGINES}
    for i in range(args.repeat):
        order = ENGINES if i % 2 == 0 else ENGINES[::-1]  # ABBA: neither always goes first
        for engine in order:
            print(f"{service}: {engine} {i + 1}/{args.repeat} ...", flush=True)
            result = measure(args, url, engine, incident)
            if "error" in result:
                print(f"  FAILED (exit {result['error']['exit']})", flush=True)
            else:
                totals = ", ".join(f"{r['seconds']['total']:.2f}" for r in result["runs"])
                print(f"  total {totals} s", flush=True)
            runs[engine].append(result)
    return runs


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from makegood.db import migrate
    from makegood.db.engine import make_engine as make_db

    record: dict[str, Any] = {
        "bench": "spark_impact",
        "started_at": datetime.now(UTC).isoformat(),
        "args": {
            **{k: getattr(args, k) for k in (*ARGS, "spark_master")},
            "spark_conf": spark_conf(args),
        },
        "code": ib.code_fingerprint(),
        "machine": machine(),
    }
    setup: dict[str, Any] = {"data": ib.ensure_data(args)}
    record["setup"] = setup
    name = f"makegood_bench_{os.getpid()}"
    url = ib.create_database(args.server, name)
    try:
        record["machine"]["postgresql"] = ib.server_version(url)
        db = make_db(url)
        migrate.upgrade(db)
        db.dispose()
        print("loading customers with COPY ...", flush=True)
        setup["customers"] = ib.load_customers(args, url)
        print("registering sources (add_source), declaring incidents ...", flush=True)
        declared = ib.run_child("register", args, ["--database", url])
        setup["sources"], setup["incidents"] = declared["sources"], declared["incidents"]
        record["runs"] = {
            service: measure_incident(args, url, service, declared["incidents"][service])
            for service in ib.SERVICES
        }
    finally:
        ib.drop_database(args.server, name)
    record["finished_at"] = datetime.now(UTC).isoformat()
    seen = {
        r["code"] for s in record["runs"].values() for e in s.values() for r in e if "code" in r
    }
    record["code_changed_during_run"] = seen != {record["code"]}
    record["summary"] = {s: summarise(record["runs"][s]) for s in ib.SERVICES}
    return record


def machine() -> dict[str, Any]:
    """Cores, memory, CPU and versions (impact_bench's machine() also asks git; not here)."""
    import duckdb
    import pyarrow
    import pyspark

    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        mem_kb = int(meminfo.readline().split()[1])  # MemTotal, the first line
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        cpu = next(
            (ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?"
        )
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "mem_total_gb": round(mem_kb * 1024 / 1e9, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        **{m.__name__: m.__version__ for m in (duckdb, pyarrow, pyspark, psycopg)},
        "java": (java.stderr.splitlines() or ["?"])[0],
    }


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per engine: medians of the cold (first) runs' phases, of the warm runs', peaks,
    what was stored; then Spark ÷ DuckDB, and whether both stored the same rows."""
    out: dict[str, Any] = {}
    for engine, results in runs.items():
        ok = [r for r in results if "error" not in r]
        cold = [r["runs"][0] for r in ok]
        warm = [w for r in ok for w in r["runs"][1:]]
        out[engine] = {
            "measured": len(ok),
            "failed": [r["error"] for r in results if "error" in r],
            "cold": phase_medians(cold),
            "warm": phase_medians(warm),
            "python_peak_rss_mb": max_of([r.get("python_peak_rss_mb") for r in cold]),
            "children_peak_rss_mb": max_of([child_peak(r) for r in cold]),
            "warm_children_peak_rss_mb": max_of([child_peak(r) for r in warm]),
            "max_other_cores": max_of([r.get("other_cores") for r in [*cold, *warm]]),
            "stored": sorted({json.dumps(r["stored"], sort_keys=True) for r in ok}),
        }
    duck, spark = out["duckdb"], out["spark"]
    out["ratio"] = {
        k: spark["cold"][k] / duck["cold"][k]
        for k in PHASES
        if duck["cold"].get(k) and spark["cold"].get(k) is not None
    }
    out["pairwise_total_ratio"] = [
        s["runs"][0]["seconds"]["total"] / d["runs"][0]["seconds"]["total"]
        for d, s in zip(runs["duckdb"], runs["spark"], strict=True)
        if "error" not in d and "error" not in s
    ]
    stores = [json.loads(x) for e in ENGINES for x in out[e]["stored"]]
    counts = {(s["confirmed"], s["possible"]) for s in stores}
    out["equal"] = {
        "counts": len(counts) == 1 and bool(duck["stored"]) and bool(spark["stored"]),
        "rows": len({s["rows_sum"] for s in stores}) == 1,
        "evidence": len({s["evidence_sum"] for s in stores}) == 1,
    }
    return out


def phase_medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Medians of each phase, of the commit and of the CPU seconds (Python, JVM, backend)."""
    values: dict[str, list[float]] = {}
    for r in runs:
        cpu = r["python_cpu_seconds"] + r["children_and_backend_cpu_seconds"]
        for key, value in {**r["seconds"], "commit": r["commit"], "cpu": cpu}.items():
            values.setdefault(key, []).append(value)
    return {key: ib.median(v) for key, v in values.items()}


def child_peak(run: dict[str, Any]) -> float | None:
    peaks = [c["peak_mb"] for c in run["children"] if c["peak_mb"] is not None]
    return sum(peaks) if peaks else None


def max_of(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return max(kept) if kept else None


def fmt(value: Any, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


# Label, where in an engine's summary, format; a phase row also gets Spark ÷ DuckDB.
ROWS = (
    *((f"{k} (s)", ("cold", k), ".2f") for k in PHASES),
    ("commit (s)", ("cold", "commit"), ".2f"),
    ("warm session: query (s)", ("warm", "query"), ".2f"),
    ("warm session: store (s)", ("warm", "store"), ".2f"),
    ("warm session: total (s)", ("warm", "total"), ".2f"),
    ("CPU s (Python + JVM + backend)", ("cold", "cpu"), ".1f"),
    ("peak RSS, Python (MB)", ("python_peak_rss_mb",), ",.0f"),
    ("peak RSS, JVM (MB)", ("children_peak_rss_mb",), ",.0f"),
    ("peak RSS, JVM, warm run (MB)", ("warm_children_peak_rss_mb",), ",.0f"),
    ("max other cores busy", ("max_other_cores",), ".2f"),
)


def report_rows(summ: dict[str, Any]) -> list[tuple[str, ...]]:
    d, s = summ["duckdb"], summ["spark"]
    stored = json.loads((d["stored"] or s["stored"] or ["{}"])[0])
    counts = f"{fmt(stored.get('confirmed'), ',')} / {fmt(stored.get('possible'), ',')}"
    rows = [
        (
            "impacts, confirmed / possible",
            counts,
            "same" if summ["equal"]["counts"] else "DIFFER",
            "",
        )
    ]
    for label, path, spec in ROWS:
        duck, spark = d.get(path[0]), s.get(path[0])
        if len(path) > 1:
            duck, spark = duck.get(path[1]), spark.get(path[1])
        ratio = summ["ratio"].get(path[1]) if path[0] == "cold" else None
        rows.append((label, fmt(duck, spec), fmt(spark, spec), fmt(ratio) if ratio else ""))
    return rows


def print_report(record: dict[str, Any]) -> None:
    a = record["args"]
    print(
        f"\nmakegood impact run, Spark {a['spark_master']} beside DuckDB: {a['customers']:,} "
        f"customers, {a['events']:,} events; median of {a['repeat']}; "
        f"Spark conf {a['spark_conf']}"
    )
    for service in ib.SERVICES:
        summ = record["summary"][service]
        print(f"\n{service}: | | DuckDB | Spark | Spark ÷ DuckDB |")
        for label, duck, spark, ratio in report_rows(summ):
            print(f"| {label} | {duck} | {spark} | {ratio} |")
        eq = summ["equal"]
        pairs = ", ".join(f"{x:.2f}" for x in summ["pairwise_total_ratio"])
        print(f"equal: counts {eq['counts']}, rows {eq['rows']}, evidence {eq['evidence']}")
        print(f"total ratio per pair: {pairs}")
        for engine in ENGINES:
            for failure in summ[engine]["failed"]:
                print(f"{engine} FAILED (exit {failure['exit']}):\n{failure['log_tail'][-1500:]}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--shipments", type=int, default=None, help="default: customers // 2")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data-dir", type=Path, default=ib.DEFAULT_DATA)
    p.add_argument("--server", default=ib.DEFAULT_SERVER)
    p.add_argument("--json-out", type=Path, default=DEFAULT_RESULTS, help="'' for none")
    p.add_argument("--repeat", type=int, default=2, help="processes per engine and incident")
    p.add_argument("--warm", type=int, default=1, help="runs after the first in a Spark process")
    p.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit")
    p.add_argument("--threads", type=int, default=None, help="DuckDB threads")
    p.add_argument("--spark-master", default="local[2]")
    p.add_argument("--driver-memory", default="6g", help="spark.driver.memory")
    p.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--spark-local-dir", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--settle", type=float, default=60.0, help="wait up to this for idle")
    p.add_argument("--timeout", type=float, default=1800.0, help="per measured process")
    for name, kind in (("phase", str), ("phase-out", Path), ("database", str), ("engine", str)):
        p.add_argument(f"--{name}", type=kind, help=argparse.SUPPRESS)  # internal: a child
    p.add_argument("--incident", type=int, help=argparse.SUPPRESS)
    p.add_argument("--runs", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.shipments is None:
        args.shipments = args.customers // 2
    args.data_dir = args.data_dir.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.phase:
        args.phase_out.write_text(json.dumps({**phase_run(args), "code": ib.code_fingerprint()}))
        return 0
    args.spark_local_dir = Path(tempfile.mkdtemp(prefix="spark-bench-", dir="/tmp"))
    try:
        record = run_benchmark(args)
    finally:
        shutil.rmtree(args.spark_local_dir, ignore_errors=True)
    print_report(record)
    if str(args.json_out) not in ("", "."):
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        with args.json_out.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        print(f"\nrecord appended to {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
