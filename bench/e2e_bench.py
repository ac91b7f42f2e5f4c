"""Benchmark: one million apologies, end to end, on PostgreSQL.

From `impact run` to the last message a sink accepts: every phase is the real
`python -m makegood --json ...` command in a process of its own, with its settings
in MAKEGOOD_* environment variables (as workers_bench.py sets them: 16 connections
and batches of 500 per worker) and a policy file, as a user would run them.

Setup (timed, not part of the end-to-end figure): generate customers and usage events
as Parquet (impact_bench.py's generator, files reused from bench/data); a fresh
database, `makegood init`; the customers loaded with COPY (impact_bench.py's
load_customers) and their snapshot written as `customers import` would; `makegood
sources add usage_events`; `makegood incidents declare` of a streaming outage lasting
the week after the generated six weeks. No one could stream that week, so there is no
event in it, and every customer who streamed in at least two of the four weeks before
is affected (habitual_usage, `possible`): about 98.6% of the customers. The policy
gives each of them one credit, automatic or (--mode claim) by a claim link, and
excludes no one.

Measured, one phase after another (each after waiting up to --settle seconds for the
machine to go idle):

  impact run   `makegood impact run ID` (DuckDB on the Parquet files, impacts stored)
  plan         `makegood campaigns plan ID --policy FILE`
  approve      `makegood campaigns approve ID --by NAME`
  execute      `makegood campaigns execute ID` (credits or claim links, the outbox)
  send         --workers (2) `makegood worker` processes, started once execute is
               done, until the sink has accepted the last message; then until every
               outcome is recorded (nothing pending), and the workers are stopped.

Per phase: wall seconds (the process's start to its exit; for send, the first
worker's start to the sink's last accept), the process's CPU seconds, PostgreSQL's
CPU seconds (this run's backends and the server's own processes, sampled from /proc),
cores kept busy by anything else, the 1-minute load average, and the peak RSS of
every process (VmHWM, read as the process exits: a sitecustomize hook on PYTHONPATH
writes it from an atexit handler; the target is at most 1 GB each). For send also:
msg/s (messages / the sink's first to last accept), duplicates (messages received
beyond one per Message-ID) and lost messages; both must be 0, or the script exits
with status 1.

The floor, measured in the same run against the same sink: the bare aiosmtplib bytes
loop of workers_bench.py in --workers processes (no database, no rendering; the
same subject and bodies as makegood's first letter, serialised before timing, each
process building its own share), sending a sample of --floor-messages (default
100,000, or all if fewer), and extrapolated by its rate: floor seconds = the messages
makegood sent / that rate (the rate: messages / the sink's first to last accept).
The end-to-end seconds are reported beside it and as a ratio to it.

    python bench/e2e_bench.py --affected 1000000
    python bench/e2e_bench.py --affected 20000 --mode claim

One JSON record per run is appended to bench/results/e2e.jsonl.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiosmtplib
import psycopg

import impact_bench
from makegood.adapters.mailbox import free_port
from makegood.customers import snapshot
from makegood.db.engine import make_engine
from makegood.demo.scenario import Scenario
from send_bench import machine_cpu, postgres_pids, proc_cpu, sample_letter, settings_for, settle
from workers_bench import (
    READY,
    Sink,
    Tally,
    bare_bytes,
    bare_process,
    figures,
    pending,
    worker_env,
)

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = BENCH_DIR / "results" / "e2e.jsonl"
PEAK_ENV = "E2E_BENCH_PEAK_FILE"
RSS_LIMIT_MB = 1000.0  # 1 GB, decimal megabytes, per process
NOISY_CORES = 0.1  # other processes busier than this during a phase disturbed its timing
# The share of the generated customers the week-long outage affects (measured with 10
# events each: 98.6% of 20,041, 98.5% of 202,840, 98.6% of 1,014,199); --affected
# divides by it.
AFFECTED_SHARE = 0.986
ACTOR = "bench"
PHASES = ("impact run", "plan", "approve", "execute", "send")
SUMMARY = "Streaming was down all week: videos would not start for anyone."
POLICY = """name = "e2e-bench"
[[rules]]
name = "a week without streaming"
services = ["streaming"]
confidence = ["confirmed", "possible"]
amount = {{ percent_of_monthly_price = "5" }}
mode = "{mode}"
{claim}
[limits]
minimum = "0.01"
"""

# Written to a directory put first on the children's PYTHONPATH: Python imports it at
# start-up (site.py), and it records the process's peak RSS as the process exits.
PEAK_HOOK = '''\
"""Written by bench/e2e_bench.py: at exit, write this process's VmHWM and VmRSS (kB) to
the file named by E2E_BENCH_PEAK_FILE, which is unset so that children do not."""

import atexit
import os

_path = os.environ.pop("E2E_BENCH_PEAK_FILE", None)
if _path:

    def _write_peak(path: str = _path) -> None:
        with open("/proc/self/status", encoding="ascii") as status:
            vm = dict(line.split(":", 1) for line in status if line.startswith("Vm"))
        with open(path, "w", encoding="ascii") as out:
            out.write(vm["VmHWM"].split()[0] + " " + vm["VmRSS"].split()[0])

    atexit.register(_write_peak)
'''


BOUNDARY = re.compile(rb"={15}\d+==")
TO, MESSAGE_ID = b"Sam <m1@example.com>", b"<bare.1@example.com>"  # in bare_bytes' first


class BenchError(RuntimeError):
    pass


# -- the sink: workers_bench's, with a running count and the accept times ----------------


class CountingTally(Tally):
    """workers_bench's Tally, also counting as it goes: 'count' is asked every half
    second, and summing a million counters each time would cost the sink CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return await super().handle_DATA(server, session, envelope)


def vm_mb(field: str, pid: int | str = "self") -> float | None:
    """VmHWM or VmRSS of a process in MB (10^6 bytes); None once it has exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return None


def serve_sink(port: int, conn: Connection) -> None:
    """Runs in the sink process. The same answers to 'count' and 'stats' as
    workers_bench's sink; 'times' gives the first and last accept (perf_counter, which
    is CLOCK_MONOTONIC: the same clock in every process), 'peak' the sink's VmHWM."""
    from aiosmtpd.controller import Controller

    tally = CountingTally()
    controller = Controller(tally, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    conn.send("ready")
    try:
        while (command := conn.recv()) != "stop":
            if command == "count":
                conn.send(tally.received)
            elif command == "times":
                conn.send((tally.first, tally.last))
            elif command == "peak":
                conn.send(vm_mb("VmHWM"))
            elif command == "stats":
                conn.send((tally.received, len(tally.ids), tally.last - tally.first))
                tally.ids.clear()
                tally.received = 0
                tally.first = tally.last = 0.0
    finally:
        controller.stop()


class CountingSink(Sink):
    def __init__(self) -> None:
        self.port = free_port()
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve_sink, args=(self.port, child), daemon=True)
        self.process.start()
        if not self.conn.poll(60) or self.conn.recv() != "ready":
            raise RuntimeError("the SMTP sink did not start")


# -- watching the processes of a phase ---------------------------------------------------


class Watch:
    """Samples, every ``interval`` seconds, the peak RSS of the watched processes (in
    case one dies before its exit hook runs) and the CPU of this run's PostgreSQL
    processes, whose backends come and go with the commands."""

    def __init__(self, database: str, interval: float = 0.25) -> None:
        self.database, self.interval = database, interval
        self.pids: dict[int, str] = {}
        self.peaks: dict[str, float] = {}
        self.pg_start: dict[int, float] = {}
        self.pg_last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self.pg_start = {pid: proc_cpu(pid) for pid in postgres_pids(self.database)}
        self.pg_last = dict(self.pg_start)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def add(self, pid: int, name: str) -> None:
        self.pids[pid] = name

    def _sample(self) -> None:
        for pid, name in list(self.pids.items()):
            peak = vm_mb("VmHWM", pid)
            if peak is not None:
                self.peaks[name] = max(peak, self.peaks.get(name, 0.0))
        for pid in postgres_pids(self.database):
            self.pg_last[pid] = proc_cpu(pid)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def postgres_cpu(self) -> float:
        """CPU seconds of PostgreSQL's processes since the start (backends that began
        meanwhile from zero; each as last seen, so at most one interval short)."""
        return sum(cpu - self.pg_start.get(pid, 0.0) for pid, cpu in self.pg_last.items())


# -- running makegood --------------------------------------------------------------------


class Runner:
    """Starts `python -m makegood --json ...` with the run's environment, in a working
    directory with no makegood.toml, its output and peak RSS in files."""

    def __init__(self, env: dict[str, str], work: Path) -> None:
        hooks = work / "hooks"
        hooks.mkdir()
        (hooks / "sitecustomize.py").write_text(PEAK_HOOK)
        path = [str(hooks), *filter(None, [env.get("PYTHONPATH")])]
        self.env = {**env, "PYTHONPATH": os.pathsep.join(path)}
        self.work = work
        self.cwd = work / "cwd"
        self.cwd.mkdir()
        self.seen = 0

    def start(self, name: str, argv: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        self.seen += 1
        stem = self.work / f"{self.seen:02d}-{name.replace(' ', '_')}"
        env = {**self.env, PEAK_ENV: f"{stem}.peak"}
        with open(f"{stem}.out", "wb") as out, open(f"{stem}.err", "wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "makegood", "--json", *argv],
                env=env,
                cwd=self.cwd,
                stdout=out,
                stderr=err,
            )
        return process, stem

    @staticmethod
    def finish(process: subprocess.Popen[bytes], stem: Path) -> dict[str, Any]:
        """Wait for the process; its exit status, CPU, peak RSS and JSON output."""
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out = Path(f"{stem}.out").read_text(errors="replace").strip()
        err = Path(f"{stem}.err").read_text(errors="replace")
        peak_file = Path(f"{stem}.peak")
        hwm = rss = None
        if peak_file.exists():
            kb = [int(v) for v in peak_file.read_text().split()]
            hwm, rss = kb[0] * 1024 / 1e6, kb[1] * 1024 / 1e6
        try:
            data = json.loads(out.splitlines()[-1]) if out else {}
        except ValueError:
            data = {}
        return {
            "exit": process.returncode,
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": None if hwm is None else round(hwm, 1),
            "rss_at_exit_mb": None if rss is None else round(rss, 1),
            "ru_maxrss_mb": round(usage.ru_maxrss * 1024 / 1e6, 1),
            "output": data,
            "stderr_tail": err[-2000:],
        }


class Meter:
    """Wall time, machine CPU, the sink's and PostgreSQL's CPU and the load over a phase."""

    def __init__(self, sink: CountingSink, database: str) -> None:
        self.sink, self.watch = sink, Watch(database)

    def __enter__(self) -> Meter:
        self.load_before = os.getloadavg()[0]
        self.busy = machine_cpu()
        self.sink_cpu = self.sink.cpu()
        self.watch.__enter__()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ended = time.perf_counter()
        self.watch.__exit__()
        self.busy = machine_cpu() - self.busy
        self.sink_cpu = self.sink.cpu() - self.sink_cpu
        self.load_after = os.getloadavg()[0]

    def figures(self, own_cpu: float, wall: float) -> dict[str, Any]:
        """``own_cpu``: the makegood processes' CPU; the rest of the machine's busy time,
        less PostgreSQL's and the sink's, is other processes' (the noise)."""
        pg = self.watch.postgres_cpu()
        span = self.ended - self.started
        others = max(0.0, self.busy - own_cpu - pg - self.sink_cpu) / span if span else 0.0
        return {
            "seconds": round(wall, 2),
            "cpu_s": round(own_cpu, 2),
            "postgres_cpu_s": round(pg, 2),
            "sink_cpu_s": round(self.sink_cpu, 2),
            "other_cores": round(others, 2),
            "loadavg_1m_before": round(self.load_before, 2),
            "loadavg_1m_after": round(self.load_after, 2),
        }


def command_phase(
    runner: Runner, sink: CountingSink, database: str, name: str, argv: list[str]
) -> dict[str, Any]:
    """One makegood command, timed from its start to its exit."""
    with Meter(sink, database) as meter:
        process, stem = runner.start(name, argv)
        meter.watch.add(process.pid, name)
        done = Runner.finish(process, stem)
        wall = time.perf_counter() - meter.started
    if done["exit"] != 0:
        raise BenchError(f"{name} failed (exit {done['exit']}):\n{done['stderr_tail']}")
    if done["peak_rss_mb"] is None:  # the exit hook did not run: the last sample instead
        done["peak_rss_mb"] = meter.watch.peaks.get(name)
        done["peak_rss_sampled"] = True
    figures = meter.figures(done["cpu_s"], wall)
    return {**figures, **{k: v for k, v in done.items() if k != "cpu_s"}}


def send_phase(
    runner: Runner,
    sink: CountingSink,
    url: str,
    database: str,
    messages: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """--workers `makegood worker` processes until the sink has every message and every
    outcome is recorded; then they are stopped with SIGTERM."""
    engine = make_engine(url)
    sink.ask("stats")  # from nothing
    workers: list[tuple[subprocess.Popen[bytes], Path]] = []
    stalled = False
    try:
        with Meter(sink, database) as meter:
            for n in range(args.workers):
                process, stem = runner.start(f"worker {n + 1}", ["worker"])
                meter.watch.add(process.pid, f"worker {n + 1}")
                workers.append((process, stem))
            ready = [wait_ready(process, stem) - meter.started for process, stem in workers]
            deadline = time.monotonic() + args.timeout
            last_count, last_change = -1, time.monotonic()
            while (count := sink.ask("count")) < messages:
                now = time.monotonic()
                if count != last_count:
                    last_count, last_change = count, now
                died = any(p.poll() is not None for p, _ in workers)
                if died or now > deadline:
                    stalled = True
                    break
                if now - last_change > args.stall and not pending(engine):
                    stalled = True  # nothing left to send, and not all arrived
                    break
                time.sleep(0.5)
            first, last = sink.ask("times")
            while not stalled and pending(engine) and time.monotonic() < deadline:
                time.sleep(0.2)
            recorded = time.perf_counter() - meter.started
            for process, _ in workers:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            done = [Runner.finish(process, stem) for process, stem in workers]
    finally:
        for process, _ in workers:
            if process.returncode is None and process.poll() is None:
                process.kill()
                process.wait()
    left = pending(engine)
    engine.dispose()
    received, unique, span = sink.ask("stats")
    for n, d in enumerate(done):
        if d["peak_rss_mb"] is None:
            d["peak_rss_mb"] = meter.watch.peaks.get(f"worker {n + 1}")
            d["peak_rss_sampled"] = True
    to_last = last - meter.started if last else float("nan")
    figures = meter.figures(sum(d["cpu_s"] for d in done), to_last)
    return {
        **figures,
        "workers": args.workers,
        "messages": messages,
        "received": received,
        "unique": unique,
        "duplicates": received - unique,
        "lost": messages - unique,
        "first_to_last_accept_s": round(span, 2),
        "msg_per_s": round(received / span, 1) if span else None,
        "start_to_first_accept_s": round(first - meter.started, 2) if first else None,
        "ready_s": [round(r, 2) for r in ready],
        "all_recorded_s": round(recorded, 2),
        "left_pending": left,
        "peak_rss_mb": max((d["peak_rss_mb"] or 0.0) for d in done),
        "by_worker": [
            {
                "sent": d["output"].get("sent"),
                "failed": d["output"].get("failed"),
                "retrying": d["output"].get("retrying"),
                "cpu_s": d["cpu_s"],
                "peak_rss_mb": d["peak_rss_mb"],
                "ru_maxrss_mb": d["ru_maxrss_mb"],
                "exit": d["exit"],
            }
            for d in done
        ],
    }


def wait_ready(process: subprocess.Popen[bytes], stem: Path, limit: float = 120) -> float:
    """When the worker said it is sending (perf_counter)."""
    err = Path(f"{stem}.err")
    deadline = time.monotonic() + limit
    while READY not in err.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"a worker did not start:\n{err.read_text(errors='replace')}")
        time.sleep(0.01)
    return time.perf_counter()


# -- setup -------------------------------------------------------------------------------


def impact_args(args: argparse.Namespace) -> argparse.Namespace:
    """What impact_bench's data generation and customer loading read."""
    return argparse.Namespace(
        customers=args.customers,
        events=args.events,
        shipments=args.customers // 2,
        seed=args.seed,
        data_dir=args.data_dir,
        memory_limit="1GB",
        threads=None,
        repeat=1,
        cache_dir=None,
    )


def outage(args: argparse.Namespace) -> tuple[datetime, datetime, datetime]:
    """(start, end, now): the week after the generated six, and 'now' the next noon."""
    s = Scenario(customers=args.customers, events=args.events, seed=args.seed)
    start = s.period_end
    end = start + timedelta(weeks=1)
    return start, end, end + timedelta(hours=12)


def setup(
    args: argparse.Namespace, runner: Runner, url: str, cache: Path, sink: CountingSink, db: str
) -> dict[str, Any]:
    iargs = impact_args(args)
    found: dict[str, Any] = {"data": impact_bench.ensure_data(iargs)}
    files = impact_bench.data_files(iargs)
    progress("setup: makegood init")
    found["init"] = command_phase(runner, sink, db, "init", ["init"])
    progress(f"setup: loading {args.customers:,} customers with COPY")
    found["customers"] = impact_bench.load_customers(iargs, url)
    started = time.perf_counter()
    engine = make_engine(url)
    snapshot.refresh(engine, cache)  # what `customers import` leaves for impact runs
    engine.dispose()
    found["customers_snapshot_s"] = round(time.perf_counter() - started, 2)
    progress("setup: sources add usage_events")
    found["sources_add"] = command_phase(
        runner,
        sink,
        db,
        "sources add",
        ["sources", "add", "usage_events", str(files["usage_events"])],
    )
    start, end, _ = outage(args)
    summaries = Scenario().streaming.summaries
    declare = [
        "incidents",
        "declare",
        "--service",
        "streaming",
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--title",
        "Streaming down for a week",
        "--summary",
        SUMMARY,
        *(x for lang, text in summaries.items() for x in ("--summary-for", f"{lang}={text}")),
    ]
    found["declare"] = command_phase(runner, sink, db, "incidents declare", declare)
    return found


def analyze(url: str) -> float:
    """--analyze: ANALYZE the whole database, as autovacuum would in time on a server
    where it is on (not part of the phases' figures)."""
    started = time.perf_counter()
    with psycopg.connect(impact_bench.conninfo(url), autocommit=True) as conn:
        conn.execute("ANALYZE")
    seconds = time.perf_counter() - started
    progress(f"ANALYZE: {seconds:.1f} s")
    return round(seconds, 2)


def autovacuum(url: str) -> str:
    with psycopg.connect(impact_bench.conninfo(url)) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
    return str(row[0]) if row else "?"


def progress(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def phase_line(name: str, figures: dict[str, Any], extra: str = "") -> None:
    peak = figures.get("peak_rss_mb")
    progress(
        f"{name}: {figures['seconds']:.2f} s, CPU {figures['cpu_s']:.1f} s, PostgreSQL "
        f"{figures['postgres_cpu_s']:.1f} s, peak RSS "
        f"{'?' if peak is None else f'{peak:,.0f}'} MB, load {figures['loadavg_1m_after']:.2f}"
        + (f"; {extra}" if extra else "")
    )


# -- the run -----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    record: dict[str, Any] = {
        "bench": "e2e",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {
            "affected": args.affected,
            "customers": args.customers,
            "events": args.events,
            "seed": args.seed,
            "mode": args.mode,
            "workers": args.workers,
            "connections_per_worker": args.connections,
            "batch_size": args.batch_size,
            "floor_messages": args.floor_messages,
            "settle": args.settle,
            "analyze": args.analyze,
        },
        "machine": machine(),
        "code": code_fingerprint(),
    }
    name = f"makegood_e2e_bench_{os.getpid()}"
    url = impact_bench.create_database(args.server, name)
    record["machine"]["postgresql"] = impact_bench.server_version(url)
    record["machine"]["autovacuum"] = autovacuum(url)
    sink = CountingSink()
    phases: dict[str, dict[str, Any]] = {}
    record["phases"] = phases
    try:
        with tempfile.TemporaryDirectory(prefix="e2e-bench-") as tmp:
            work = Path(tmp)
            cache = work / "cache"
            _, _, now = outage(args)
            env = worker_env(url, sink.port, args.connections, args.batch_size)
            env |= {
                "MAKEGOOD_NOW": now.isoformat(),
                "MAKEGOOD_CACHE_DIR": str(cache),
                "MAKEGOOD_ACTOR": ACTOR,
            }
            runner = Runner(env, work)
            started = time.perf_counter()
            record["setup"] = setup(args, runner, url, cache, sink, name)
            record["setup"]["seconds"] = round(time.perf_counter() - started, 1)
            incident = record["setup"]["declare"]["output"]["id"]
            policy = work / "policy.toml"
            claim = "claim_days = 7" if args.mode == "claim" else ""
            policy.write_text(POLICY.format(mode=args.mode, claim=claim))

            def phase(label: str, argv: list[str]) -> dict[str, Any]:
                analysed = analyze(url) if args.analyze else None
                busy = settle(args.settle)
                progress(f"{label} ...")
                result = command_phase(runner, sink, name, label, argv)
                result["busy_cores_before"] = busy
                result["analyze_before_s"] = analysed
                phases[label] = result
                return result

            impact = phase("impact run", ["impact", "run", str(incident)])["output"]
            affected = impact["confirmed"] + impact["possible"]
            phase_line("impact run", phases["impact run"], f"{affected:,} affected")
            planned = phase("plan", ["campaigns", "plan", str(incident), "--policy", str(policy)])
            campaign = planned["output"]["id"]
            offers = planned["output"]["offers"]
            phase_line("plan", planned, f"campaign {campaign}, {offers:,} offers")
            approved = phase("approve", ["campaigns", "approve", str(campaign), "--by", ACTOR])
            phase_line("approve", approved, approved["output"].get("status", "?"))
            executed = phase("execute", ["campaigns", "execute", str(campaign)])
            messages = int(executed["output"]["messages"])
            phase_line("execute", executed, f"{messages:,} messages queued")

            analysed = analyze(url) if args.analyze else None
            busy = settle(args.settle)
            progress(f"send: {args.workers} workers, {messages:,} messages ...")
            sent = send_phase(runner, sink, url, name, messages, args)
            sent["busy_cores_before"] = busy
            sent["analyze_before_s"] = analysed
            phases["send"] = sent
            phase_line(
                "send",
                sent,
                f"{sent['msg_per_s'] or 0:,.0f} msg/s, {sent['duplicates']} duplicates, "
                f"{sent['lost']} lost",
            )
            record["counts"] = {
                "affected": affected,
                "confirmed": impact["confirmed"],
                "possible": impact["possible"],
                "offers": offers,
                "excluded": planned["output"].get("excluded"),
                "granted": executed["output"].get("granted"),
                "offered": executed["output"].get("offered"),
                "messages": messages,
                "sent": sum(w["sent"] or 0 for w in sent["by_worker"]),
            }
            record["floor"] = floor(args, sink, url, messages)
    finally:
        record["sink_peak_rss_mb"] = sink.ask("peak") if sink.process.is_alive() else None
        sink.stop()
        if args.keep_database:
            print(f"kept database {url}", file=sys.stderr)
        else:
            impact_bench.drop_database(args.server, name)
    record["bench_peak_rss_mb"] = round(vm_mb("VmHWM") or 0.0, 1)
    record["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    record["summary"] = summarise(record)
    return record


def floor(args: argparse.Namespace, sink: CountingSink, url: str, messages: int) -> dict[str, Any]:
    """The bare bytes loop in --workers processes on a sample, extrapolated by its rate."""
    sample = min(messages, args.floor_messages) if args.floor_messages else messages
    settings = settings_for(url, sink.port, args.connections, args.batch_size)
    template = bare_template(*sample_letter(url, settings))
    busy = settle(args.settle)
    progress(f"floor: bare bytes loop x{args.workers}, {sample:,} messages ...")
    bare = measure_floor(sink, template, sample, args.workers, args.connections)
    rate = bare["msg_per_s"] or float("nan")
    result = {
        **bare,
        "busy_cores_before": busy,
        "sample": sample,
        "extrapolated": sample < messages,
        "floor_s": round(messages / rate, 2),
    }
    progress(
        f"floor: {rate:,.0f} msg/s on {sample:,} messages -> {result['floor_s']:.1f} s for "
        f"{messages:,}"
    )
    return result


def measure_floor(
    sink: CountingSink, template: tuple[str, bytes], count: int, processes: int, connections: int
) -> dict[str, Any]:
    """workers_bench's measure_bare, but each process builds its own share of the
    messages (so no process holds them all): the same shares (messages k, k + N, ...),
    the same loop (workers_bench's bare_process: send_bench's bytes_loop), the same
    figures, from the sink's first accept to its last."""
    ctx = multiprocessing.get_context("spawn")
    pipes, started = [], []
    for k in range(processes):
        mine, theirs = ctx.Pipe()
        share = range(1 + k, count + 1, processes)
        process = ctx.Process(
            target=bare_share, args=(sink.port, template, share, connections, theirs)
        )
        process.start()
        pipes.append(mine)
        started.append(process)
    for pipe in pipes:
        if not pipe.poll(600) or pipe.recv() != "ready":
            raise BenchError("a bare loop process did not start")
    sink.ask("stats")
    sink_cpu = sink.cpu()
    for pipe in pipes:
        pipe.send("go")
    spent = [pipe.recv() for pipe in pipes]
    sink_cpu = sink.cpu() - sink_cpu
    for process in started:
        process.join(30)
    return {"processes": processes, **figures(sink, count, sum(spent), sink_cpu, 0.0)}


def bare_share(
    port: int, template: tuple[str, bytes], share: range, connections: int, conn: Connection
) -> None:
    """Runs in a process of its own: its share of the sample, then workers_bench's
    bare_process (on 'go', the bytes loop; answers the CPU it took)."""
    bare_process(port, bare_messages(template, share), connections, conn)


def bare_template(subject: str, body: str, html: str) -> tuple[str, bytes]:
    """The first of workers_bench's ``bare_bytes`` messages, checked: numbered copies
    of it (bare_messages) are byte for byte the messages bare_bytes builds, but for
    the MIME boundary, which the email package draws at random for each."""
    [(sender, _, first)] = bare_bytes(1, subject, body, html)
    if first.count(TO) != 1 or first.count(MESSAGE_ID) != 1:
        raise BenchError("the bare message does not hold its recipient and Message-ID once")
    built = list(bare_bytes(50, subject, body, html))
    copies = bare_messages((sender, first), range(1, 51))
    if [unbounded(m) for m in copies] != [unbounded(m) for m in built]:
        raise BenchError("numbered copies differ from workers_bench's bare_bytes")
    return sender, first


def bare_messages(template: tuple[str, bytes], numbers: range) -> list[tuple[str, str, bytes]]:
    """Message number i of bare_bytes for each i: the first with its recipient and
    Message-ID replaced (a fraction of the time bare_bytes takes to build each)."""
    sender, first = template
    return [
        (
            sender,
            f"m{i}@example.com",
            first.replace(TO, b"Sam <m%d@example.com>" % i).replace(
                MESSAGE_ID, b"<bare.%d@example.com>" % i
            ),
        )
        for i in numbers
    ]


def unbounded(message: tuple[str, str, bytes]) -> tuple[str, str, bytes]:
    """A message with its MIME boundary (random in each message the email package
    writes) made the same in all."""
    return message[0], message[1], BOUNDARY.sub(b"=BOUNDARY=", message[2])


def summarise(record: dict[str, Any]) -> dict[str, Any]:
    phases, floor_ = record["phases"], record.get("floor") or {}
    total = sum(phases[p]["seconds"] for p in PHASES if p in phases)
    peaks: dict[str, float | None] = {p: phases[p]["peak_rss_mb"] for p in PHASES if p in phases}
    for n, w in enumerate(phases.get("send", {}).get("by_worker", [])):
        peaks[f"worker {n + 1}"] = w["peak_rss_mb"]
    send = phases.get("send", {})
    ok = bool(send) and send["duplicates"] == 0 and send["lost"] == 0
    floor_s = floor_.get("floor_s")
    makegood_peaks = [v for k, v in peaks.items() if k != "send"]
    return {
        "end_to_end_s": round(total, 2),
        "floor_s": floor_s,
        "end_to_end_over_floor": round(total / floor_s, 2) if floor_s else None,
        "send_over_floor": round(send["seconds"] / floor_s, 2) if floor_s and send else None,
        "send_msg_per_s_over_floor": (
            round(send["msg_per_s"] / floor_["msg_per_s"], 3)
            if send.get("msg_per_s") and floor_.get("msg_per_s")
            else None
        ),
        "peak_rss_mb": {k: v for k, v in peaks.items() if k != "send"},
        "rss_within_1GB": all(v is not None and v <= RSS_LIMIT_MB for v in makegood_peaks),
        "max_other_cores": max((phases[p]["other_cores"] for p in phases), default=None),
        "ok": ok,
    }


# -- report ------------------------------------------------------------------------------


def print_report(record: dict[str, Any]) -> None:
    a, m, c, s = record["args"], record["machine"], record["counts"], record["summary"]
    phases, fl = record["phases"], record["floor"]
    print()
    print(
        f"makegood end to end: {c['affected']:,} affected of {a['customers']:,} customers "
        f"({a['events']:,} events), {a['mode']} credits, {a['workers']} workers x "
        f"{a['connections_per_worker']} connections, batches of {a['batch_size']}"
    )
    print(
        f"machine: {m['nproc']} cores ({m.get('cpu', '?')}), {m.get('mem_total_gb', '?')} GB; "
        f"PostgreSQL {m.get('postgresql', '?')} (autovacuum {m.get('autovacuum', '?')}"
        f"{', ANALYZE before each phase' if a.get('analyze') else ''}), "
        f"Python {m['python']}, aiosmtplib {m['aiosmtplib']}; code {record['code']}"
    )
    setup_ = record["setup"]
    print(
        f"setup (not in the total): {setup_['seconds']:.0f} s (data "
        f"{'reused' if setup_['data']['reused'] else 'generated'}; COPY of customers "
        f"{setup_['customers'].get('seconds', 0):.1f} s; sources add "
        f"{setup_['sources_add']['seconds']:.1f} s)"
    )
    print(
        f"offers {c['offers']:,} (excluded {c['excluded']}), granted {c['granted']:,}, "
        f"offered {c['offered']:,}, messages {c['messages']:,}, sent {c['sent']:,}"
    )
    print()
    head = (
        f"{'phase':<12} {'seconds':>9} {'CPU s':>8} {'PG CPU s':>9} {'peak RSS MB':>12} "
        f"{'other cores':>12} {'load before/after':>18}"
    )
    print(head)
    print("-" * len(head))
    for name in PHASES:
        p = phases[name]
        peak = p["peak_rss_mb"]
        print(
            f"{name:<12} {p['seconds']:>9.2f} {p['cpu_s']:>8.1f} {p['postgres_cpu_s']:>9.1f} "
            f"{'?' if peak is None else f'{peak:,.0f}':>12} {p['other_cores']:>12.2f} "
            f"{p['loadavg_1m_before']:>8.2f} / {p['loadavg_1m_after']:<7.2f}"
        )
    print("-" * len(head))
    print(f"{'end to end':<12} {s['end_to_end_s']:>9.2f}")
    print()
    send = phases["send"]
    for n, w in enumerate(send["by_worker"]):
        print(
            f"  worker {n + 1}: sent {w['sent']:,}, CPU {w['cpu_s']:.1f} s, peak RSS "
            f"{w['peak_rss_mb'] or 0:,.0f} MB"
        )
    print(
        f"  send: {send['msg_per_s'] or 0:,.0f} msg/s over {send['first_to_last_accept_s']:.1f} s "
        f"from first to last accept; workers started to first accept "
        f"{send['start_to_first_accept_s']} s; every outcome recorded at "
        f"{send['all_recorded_s']:.1f} s; duplicates {send['duplicates']}, lost {send['lost']}"
    )
    how = (
        f"a sample of {fl['sample']:,}, extrapolated by its rate"
        if fl["extrapolated"]
        else f"all {fl['sample']:,}"
    )
    print(
        f"  floor: bare bytes loop x{fl['processes']} at {fl['msg_per_s']:,.0f} msg/s ({how}): "
        f"{fl['floor_s']:.1f} s for {c['messages']:,} messages"
    )
    print(
        f"  end to end / floor: {s['end_to_end_over_floor']}; send / floor: "
        f"{s['send_over_floor']}; send msg/s / floor msg/s: {s['send_msg_per_s_over_floor']}"
    )
    print(
        f"  peak RSS within 1 GB for every makegood process: "
        f"{'yes' if s['rss_within_1GB'] else 'NO'}; sink {record['sink_peak_rss_mb'] or 0:,.0f} "
        f"MB, this script {record['bench_peak_rss_mb']:,.0f} MB"
    )
    if (s["max_other_cores"] or 0) > NOISY_CORES:
        print(
            f"  note: other processes kept up to {s['max_other_cores']:.2f} cores busy during "
            "a phase; the timings were disturbed"
        )
    print(f"  delivery: {'OK' if s['ok'] else 'FAILED (messages lost or duplicated)'}")


# -- machine and code --------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
        "aiosmtplib": aiosmtplib.__version__,
        "kernel": platform.release(),
        "loadavg_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    info.update(impact_bench.memory_and_cpu())
    return info


def code_fingerprint() -> str:
    """A hash of every makegood source file as imported (PYTHONPATH decides which)."""
    import makegood

    root = Path(makegood.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix != ".pyc" and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


# -- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--affected",
        type=int,
        default=1_000_000,
        help="about how many customers the outage affects (default 1,000,000); the "
        f"customers generated are this / {AFFECTED_SHARE}, unless --customers is given",
    )
    p.add_argument("--customers", type=int, help="customers to generate (overrides --affected)")
    p.add_argument("--events", type=int, help="usage events (default: 10 per customer)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--mode", choices=["automatic", "claim"], default="automatic")
    p.add_argument("--workers", type=int, default=2, help="`makegood worker` processes")
    p.add_argument("--connections", type=int, default=16, help="SMTP connections per worker")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument(
        "--floor-messages",
        type=int,
        default=100_000,
        help="messages the bare loop sends for the floor (0: as many as makegood sent); "
        "the floor is extrapolated from its rate",
    )
    p.add_argument(
        "--settle", type=float, default=60, help="seconds to wait for an idle machine per phase"
    )
    p.add_argument(
        "--analyze",
        action="store_true",
        help="ANALYZE the database before each phase (not timed), standing in for "
        "autovacuum where it is off; not something a user's pipeline does",
    )
    p.add_argument("--timeout", type=float, default=7200, help="seconds for the send phase")
    p.add_argument(
        "--stall",
        type=float,
        default=120,
        help="end the send phase when nothing arrived for this long and nothing is pending",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=impact_bench.DEFAULT_DATA,
        help="where the generated Parquet goes, reused as impact_bench.py does (bench/data)",
    )
    p.add_argument(
        "--server",
        default=impact_bench.DEFAULT_SERVER,
        help="PostgreSQL server for the scratch database makegood_e2e_bench_<pid>",
    )
    p.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    p.add_argument(
        "--json-out",
        type=Path,
        default=DEFAULT_RESULTS,
        help="append the record here (default bench/results/e2e.jsonl; '' for none)",
    )
    args = p.parse_args(argv)
    if args.customers is None:
        args.customers = math.ceil(args.affected / AFFECTED_SHARE)
    if args.events is None:
        args.events = 10 * args.customers
    args.data_dir = args.data_dir.resolve()
    if min(args.customers, args.events, args.workers) < 1:
        p.error("--customers, --events and --workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = run(args)
    print_report(record)
    if str(args.json_out) not in ("", "."):
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        with args.json_out.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        print(f"\nrecord appended to {args.json_out}")
    return 0 if record["summary"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
