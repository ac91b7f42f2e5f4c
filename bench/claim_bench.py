"""Benchmark: claim confirmations per second on the claim page, served as `makegood serve`
serves it, beside the same server's /healthz.

Setup (not measured): a fresh PostgreSQL database with N claimable offers, made with
makegood's own plan, approve and execute (as in campaign_bench.py). The claim tokens
are taken back out of the outbox (each message carries its token sealed) and each gets
its CSRF field, exactly as the page would render it.

Measured: `makegood serve --workers W` (uvicorn) in processes of its own, loaded over
loopback by `wrk` (Debian's package: `apt-get install -y wrk`) with a fixed number of
connections, each sending its next request when the last one is answered (closed
loop). In each round, per worker count:

- healthz: `GET /healthz` for D seconds: what the server does with no work in the
  route (the yardstick);
- claims: `POST /claim/{token}` with `csrf=...`, a different token on every request,
  every token sent once, for D seconds. A confirmation is a POST answered 303.

For each phase the script records requests per second, latency percentiles (wrk's,
over every answered request), the status codes, and the CPU seconds of the server
processes, wrk, PostgreSQL and everything else on the machine. After every claims
phase it checks the database: each confirmed token's offer is claimed and has exactly
one credit on the ledger and one audit entry, and no offer was credited that was not
sent.

    python bench/claim_bench.py                      # 50,000 offers, 1 and 2 workers
    python bench/claim_bench.py --freeze-gc          # the server calls gc.freeze() first
    python bench/claim_bench.py --workers 2 --connections 32 --duration 20

``--freeze-gc`` serves through ``frozen_app`` below instead of `makegood serve`: the
same application and uvicorn settings, with ``gc.freeze()`` once it is built.

Target: at least 1,000 confirmations per second with p99 at most 50 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, text

from campaign_bench import NOW, POLICY
from campaign_bench import setup as pg_setup
from makegood.campaigns.execution import execute
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.core.tokens import Sealer, hash_token
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.policy.schema import parse_policy
from makegood.web.claim import csrf_for
from send_bench import customers_for, machine_cpu, postgres_pids, proc_cpu, settle

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-key-0123456789"
# The server's clock: an hour after the campaign was executed, well inside the window.
SERVED_AT = NOW + timedelta(hours=1)
TARGET_RATE = 1000  # confirmations per second
TARGET_P99_MS = 50
# The code a claim goes through, relative to the makegood package (for the fingerprint).
MEASURED_CODE = (
    "web/claim.py",
    "credits/service.py",
    "kits/http/deps.py",
    "db/uow.py",
    "db/engine.py",
    "entrypoints/app.py",
)

# wrk's script. Arguments: mode (claim | get), the tokens file (claim) or the path
# (get), wrk's thread count, and the prefix of the files where each thread writes the
# Location of every 303 it receives (claim). Thread k (1-based) takes the lines i of
# the tokens file with i % threads == k - 1, in order, each once.
WRK_SCRIPT = r"""
local threads, next_id = {}, 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  claims = args[1] == "claim"
  sent, n303, n200, nother, exhausted = 0, 0, 0, 0, 0
  -- wrk 4.1 calls request() once on the first thread's state to check it, and never
  -- sends what it gets: that call must not use up a token.
  checked = id ~= 1
  plain = wrk.format("GET", claims and "/healthz" or args[2])
  if claims then
    local nthreads, i = tonumber(args[3]), 0
    local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
    queue = {}
    for line in io.lines(args[2]) do
      if i % nthreads == id - 1 then
        local token, csrf = line:match("^(%S+) (%S+)$")
        queue[#queue + 1] = wrk.format("POST", "/claim/" .. token, form, "csrf=" .. csrf)
      end
      i = i + 1
    end
    confirmed = io.open(args[4] .. "." .. id, "w")
  end
end

function request()
  if not checked then
    checked = true
    return plain
  end
  if not claims then
    sent = sent + 1
    return plain
  end
  local next_request = queue[sent + 1]
  if next_request == nil then  -- out of tokens: never send one twice
    exhausted = 1
    wrk.thread:stop()
    return plain
  end
  sent = sent + 1
  return next_request
end

function response(status, headers, body)
  if status == 303 then
    n303 = n303 + 1
    confirmed:write(headers["location"] or headers["Location"] or "?", "\n")
    confirmed:flush()
  elseif status == 200 then
    n200 = n200 + 1
  else
    nother = nother + 1
  end
end

function done(summary, latency, requests)
  local total = { sent = 0, n303 = 0, n200 = 0, nother = 0, exhausted = 0 }
  local per_thread = {}
  for _, thread in ipairs(threads) do
    for key in pairs(total) do
      total[key] = total[key] + (thread:get(key) or 0)
    end
    per_thread[#per_thread + 1] = tostring(thread:get("sent") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    '\n{"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d}, "latency_us": {"p50": %d, '
      .. '"p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.1f}, "sent": %d, '
      .. '"status_303": %d, "status_200": %d, "status_other": %d, "exhausted": %d, '
      .. '"sent_per_thread": [%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, total.sent, total.n303,
    total.n200, total.nother, total.exhausted, table.concat(per_thread, ", ")))
end
"""


def code_fingerprint() -> str:
    import hashlib

    import makegood

    root = Path(makegood.__file__).parent
    digest = hashlib.sha256()
    for name in MEASURED_CODE:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    return digest.hexdigest()[:16]


# -- setup (not measured) ----------------------------------------------------------------


def claimable_offers(url: str, offers: int) -> dict[str, Any]:
    """A fresh database with ``offers`` claim offers executed: their messages wait in
    the outbox with the sealed tokens."""
    customers = customers_for(offers)
    started = time.perf_counter()
    incident_id = pg_setup(url, customers)
    engine = make_engine(url)
    policy = parse_policy(POLICY.format(percent="2", mode="claim", claim="claim_days = 7"))
    with UnitOfWork(engine) as uow:
        campaign = plan(uow.session, incident_id, policy, Decimal(0), NOW, "bench")
        approve(uow.session, campaign.id, "bench", NOW)
        uow.commit()
    result = execute(engine, campaign.id, NOW, "bench", SECRET)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return {
        "customers": customers,
        "offered": result.offered,
        "setup_s": round(time.perf_counter() - started, 1),
    }


def tokens_from_outbox(url: str) -> list[str]:
    """Every claim token, opened from the outbox, in message order."""
    sealer = Sealer(SECRET)
    engine = make_engine(url)
    with engine.connect() as conn:
        sealed = conn.execute(
            text(
                "SELECT payload ->> 'sealed_token' FROM messages "
                "WHERE payload ->> 'kind' = 'claim_offer' ORDER BY id"
            )
        ).scalars()
        tokens = [sealer.open(s) for s in sealed]
    engine.dispose()
    return tokens


# -- the server (its own processes) --------------------------------------------------------


def frozen_app() -> Any:
    """``--freeze-gc``: the application as ``from_environment`` builds it, then
    ``gc.freeze()``, so that full collections no longer walk every object the process
    made while starting (makegood itself does not do this)."""
    import gc

    from makegood.entrypoints.app import from_environment

    app = from_environment()
    gc.collect()
    gc.freeze()
    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`makegood serve --workers W` (uvicorn, with uvloop and httptools) in a process
    group of its own; with ``freeze_gc``, uvicorn as `serve` runs it, through
    ``frozen_app``."""

    def __init__(self, url: str, workers: int, log: Path, freeze_gc: bool = False) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "MAKEGOOD_DATABASE_URL": url,
            "MAKEGOOD_NOW": SERVED_AT.isoformat(),
            "MAKEGOOD_SECRET_KEY": SECRET,
            "MAKEGOOD_WEB__CLAIM_RATE_PER_MINUTE": "0",
        }
        command = [
            *(sys.executable, "-m", "makegood", "serve", "--host", "127.0.0.1"),
            *("--port", str(self.port), "--workers", str(workers)),
        ]
        if freeze_gc:  # what `serve` runs, through the factory above
            here = str(Path(__file__).resolve().parent)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
            command = [
                *(sys.executable, "-m", "uvicorn", "claim_bench:frozen_app", "--factory"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)),
                *("--log-level", "warning"),
            ]
        self.log = log.open("wb")
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=tempfile.gettempdir(),  # no makegood.toml of the caller's
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"makegood serve exited; see {log}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"makegood serve did not answer in 60 s; see {log}")
        time.sleep(1 if workers == 1 else 3)  # every worker up, not only the first
        self.workers = workers

    def pids(self) -> list[int]:
        """The server process and its descendants (uvicorn's workers)."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


# -- the load generator and the CPU accounting ---------------------------------------------


def postmaster_reaped_cpu() -> float:
    """CPU seconds of the PostgreSQL backends that have exited so far (the postmaster's
    reaped children, of every database): connections opened and closed during a phase
    would otherwise go uncounted."""
    for pidfile in Path("/var/run/postgresql").glob("*.pid"):
        try:
            pid = int(pidfile.read_text().split()[0])
            with open(f"/proc/{pid}/stat", encoding="ascii") as proc:
                parts = proc.read().rsplit(")", 1)[1].split()
            return (int(parts[13]) + int(parts[14])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return 0.0


class Meter:
    """CPU seconds of the server, PostgreSQL and the machine over one phase (wrk's own
    come from its rusage)."""

    def __init__(self, server: Server, database: str) -> None:
        self.server, self.database = server, database

    def __enter__(self) -> Meter:
        self.load = os.getloadavg()[0]
        self.server_before = {pid: proc_cpu(pid) for pid in self.server.pids()}
        self.pg_before = {pid: proc_cpu(pid) for pid in postgres_pids(self.database)}
        self.reaped = postmaster_reaped_cpu()
        self.own = time.process_time()
        self.busy = machine_cpu()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.started
        self.busy = machine_cpu() - self.busy
        self.own = time.process_time() - self.own
        after = {pid: proc_cpu(pid) for pid in self.server.pids()}
        self.server_cpu = sum(v - self.server_before.get(pid, 0.0) for pid, v in after.items())
        pg_after = {pid: proc_cpu(pid) for pid in postgres_pids(self.database)}
        self.pg = sum(v - self.pg_before.get(pid, 0.0) for pid, v in pg_after.items())
        self.reaped = postmaster_reaped_cpu() - self.reaped


def run_wrk(
    server: Server,
    script: Path,
    args: list[str],
    path: str,
    connections: int,
    threads: int,
    duration: float,
    database: str,
) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{round(duration)}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"{server.base}{path}",
        "--",
        *args,
    ]
    with Meter(server, database) as meter:
        code, out, err, wrk_cpu = wrk_with_usage(command)
    if code != 0:
        raise RuntimeError(f"wrk failed ({code}): {err.decode()} {out.decode()}")
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    result: dict[str, Any] = json.loads(lines[-1])
    seconds = result["duration_us"] / 1e6
    requests = result["requests"]
    per = 1000 / max(requests, 1)
    others = max(0.0, meter.busy - meter.server_cpu - meter.pg - meter.reaped - wrk_cpu - meter.own)
    lat = result.pop("latency_us")
    return {
        **result,
        "seconds": round(seconds, 2),
        "req_per_s": round(requests / seconds, 1),
        "p50_ms": round(lat["p50"] / 1000, 2),
        "p90_ms": round(lat["p90"] / 1000, 2),
        "p99_ms": round(lat["p99"] / 1000, 2),
        "p999_ms": round(lat["p999"] / 1000, 2),
        "max_ms": round(lat["max"] / 1000, 2),
        "mean_ms": round(lat["mean"] / 1000, 2),
        "server_cpu_ms_per_req": round(meter.server_cpu * per, 3),
        "wrk_cpu_ms_per_req": round(wrk_cpu * per, 3),
        "postgres_cpu_ms_per_req": round(meter.pg * per, 3),
        "server_cpu_s": round(meter.server_cpu, 2),
        "wrk_cpu_s": round(wrk_cpu, 2),
        "postgres_cpu_s": round(meter.pg, 2),
        # Backends that exited during the phase, of any database (an upper bound for
        # this run's connection churn).
        "postgres_exited_cpu_s": round(meter.reaped, 2),
        "other_cores": round(others / meter.wall, 2),
        "loadavg_1m_before": round(meter.load, 2),
    }


def wrk_with_usage(command: list[str]) -> tuple[int, bytes, bytes, float]:
    """Run wrk; its exit code, output, errors and CPU seconds (from its rusage)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stderr is not None
    out = process.stdout.read()
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, out, err, usage.ru_utime + usage.ru_stime


# -- verification --------------------------------------------------------------------------


def verify(
    engine: Engine, confirmed: list[str], sent: list[str], sent_before: list[str]
) -> dict[str, Any]:
    """Exactly one credit and one audit entry per confirmed token of this phase; no offer
    claimed whose token was never sent (``sent_before``: earlier phases and warm-ups);
    the offers, the ledger and the audit log agree overall."""
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TEMP TABLE bench_tokens (token_hash text, confirmed bool, now bool)")
        )
        confirmed_set = set(confirmed)
        driver = conn.connection.dbapi_connection
        assert isinstance(driver, psycopg.Connection)
        with driver.cursor() as cur, cur.copy("COPY bench_tokens FROM STDIN") as copy:
            for token in sent:
                copy.write_row((hash_token(token), token in confirmed_set, True))
            for token in sent_before:
                copy.write_row((hash_token(token), False, False))
        row = conn.execute(
            text(
                """
                WITH per_offer AS (
                  SELECT t.confirmed, t.now, o.id, o.status,
                         (SELECT count(*) FROM ledger_entries l
                           WHERE l.offer_id = o.id AND l.kind = 'claim') AS credits,
                         (SELECT count(*) FROM audit_entries a
                           WHERE a.object_type = 'offer' AND a.object_id = o.id::text
                             AND a.action = 'offer.claimed') AS audits
                  FROM bench_tokens t
                  JOIN claim_tokens c ON c.token_hash = t.token_hash
                  JOIN offers o ON o.id = c.offer_id
                ), totals AS (
                  SELECT
                    (SELECT count(*) FROM offers WHERE status = 'claimed') AS claimed_offers,
                    (SELECT count(*) FROM ledger_entries WHERE kind = 'claim') AS credits,
                    (SELECT count(DISTINCT offer_id) FROM ledger_entries
                      WHERE kind = 'claim') AS credited_offers,
                    (SELECT count(*) FROM audit_entries
                      WHERE action = 'offer.claimed') AS audits
                )
                SELECT
                  count(*) FILTER (WHERE confirmed) AS confirmed,
                  count(*) FILTER (WHERE confirmed AND status = 'claimed'
                                   AND per_offer.credits = 1
                                   AND per_offer.audits = 1) AS confirmed_ok,
                  count(*) FILTER (WHERE now AND NOT confirmed
                                   AND status = 'claimed') AS unanswered,
                  min(totals.claimed_offers)
                    - count(*) FILTER (WHERE status = 'claimed') AS claimed_not_sent,
                  min(totals.claimed_offers) AS claimed_offers,
                  min(totals.credits) AS credits,
                  min(totals.credited_offers) AS credited_offers,
                  min(totals.audits) AS audits
                FROM per_offer, totals
                """
            )
        ).one()
        conn.execute(text("DROP TABLE bench_tokens"))
    return dict(row._mapping)


def check_ok(claims: dict[str, Any]) -> bool:
    check = claims["check"]
    return bool(
        check["confirmed"] == check["confirmed_ok"] == claims["status_303"]
        and check["claimed_not_sent"] == 0
        and check["claimed_offers"]
        == check["credits"]
        == check["credited_offers"]
        == check["audits"]
    )


# -- one run ---------------------------------------------------------------------------------


def sent_tokens(batch: list[str], per_thread: list[int]) -> list[str]:
    """The tokens of ``batch`` that wrk sent: thread k takes every threads-th token from
    the k-th, and reports how many it sent."""
    threads = len(per_thread)
    return [t for k, n in enumerate(per_thread) for t in batch[k::threads][:n]]


def measure_workers(
    url: str,
    database: str,
    workers: int,
    tokens: list[str],
    cursor: int,
    budget: int,
    args: argparse.Namespace,
    workdir: Path,
    sent_before: list[str],
) -> tuple[dict[str, Any], int]:
    """healthz, then claims, on one server with ``workers`` workers; returns the figures
    and the cursor after the tokens it used. Every token it sent is added to
    ``sent_before``."""
    script = workdir / "bench.lua"
    server = Server(url, workers, workdir / f"serve-{workers}.log", args.freeze_gc)
    engine = make_engine(url)
    result: dict[str, Any] = {"workers": workers}
    try:
        common = (args.connections, args.threads)
        # Warm up: every worker's pool connected, code paths taken once.
        warm = tokens[cursor : cursor + args.warmup_tokens]
        warm_file = workdir / f"warm-{workers}.txt"
        warm_file.write_text("".join(f"{t} {csrf_for(SECRET, t)}\n" for t in warm))
        run_wrk(server, script, ["get", "/healthz"], "/healthz", *common, 2, database)
        warmed = run_wrk(
            server,
            script,
            ["claim", str(warm_file), str(args.threads), str(workdir / f"warm-{workers}")],
            "/",
            *common,
            args.warmup,
            database,
        )
        sent_before.extend(sent_tokens(warm, warmed["sent_per_thread"]))
        cursor += len(warm)

        result["healthz"] = {"busy_cores_before": settle(args.settle)}
        result["healthz"].update(
            run_wrk(
                server, script, ["get", "/healthz"], "/healthz", *common, args.duration, database
            )
        )
        print(f"workers={workers} healthz: {json.dumps(result['healthz'])}", file=sys.stderr)

        batch = tokens[cursor : cursor + budget]
        tokens_file = workdir / f"claims-{workers}.txt"
        tokens_file.write_text("".join(f"{t} {csrf_for(SECRET, t)}\n" for t in batch))
        prefix = workdir / f"confirmed-{workers}"
        with engine.connect() as conn:  # a clean start: the warm-up's dead rows vacuumed
            auto = conn.execution_options(isolation_level="AUTOCOMMIT")
            auto.execute(text("VACUUM ANALYZE offers, ledger_entries, audit_entries"))
            auto.execute(text("CHECKPOINT"))
        result["claims"] = {"busy_cores_before": settle(args.settle)}
        claims = run_wrk(
            server,
            script,
            ["claim", str(tokens_file), str(args.threads), str(prefix)],
            "/",
            *common,
            args.duration,
            database,
        )
        sent = sent_tokens(batch, claims["sent_per_thread"])
        confirmed = []
        for k in range(1, args.threads + 1):
            path = Path(f"{prefix}.{k}")
            for line in path.read_text().splitlines():
                confirmed.append(line.split("/claim/", 1)[1].split("?", 1)[0])
        claims["confirmations_per_s"] = round(claims["status_303"] / claims["seconds"], 1)
        claims["check"] = verify(engine, confirmed, sent, sent_before)
        claims["check_ok"] = check_ok(claims)
        sent_before.extend(sent)
        result["claims"].update(claims)
        print(f"workers={workers} claims: {json.dumps(result['claims'])}", file=sys.stderr)
        cursor += len(batch)
    finally:
        engine.dispose()
        server.stop()
    return result, cursor


def scratch_database() -> tuple[str, str, Any]:
    name = f"makegood_claim_bench_{os.getpid()}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, name, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offers", type=int, default=50_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--duration", type=float, default=10, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of claims first")
    parser.add_argument("--warmup-tokens", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--settle", type=float, default=60, help="seconds to wait for idle")
    parser.add_argument(
        "--freeze-gc",
        action="store_true",
        help="serve through a factory that calls gc.freeze() once the application is built",
    )
    parser.add_argument("--keep", type=Path, help="keep wrk's files and server logs here")
    parser.add_argument("--json-out", default="bench/results/claim.jsonl", help="'' for no record")
    args = parser.parse_args()

    fingerprint = code_fingerprint()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="claim_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "bench.lua").write_text(WRK_SCRIPT)
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    url, database, drop = scratch_database()
    runs: list[dict[str, Any]] = []
    try:
        setup = claimable_offers(url, args.offers)
        tokens = tokens_from_outbox(url)
        print(f"setup: {json.dumps(setup)}; {len(tokens)} tokens", file=sys.stderr)
        plan_ = [
            (number, workers)
            for number in range(args.rounds)
            for workers in (args.workers if number % 2 == 0 else list(reversed(args.workers)))
        ]
        cursor, sent = 0, list[str]()
        for index, (number, workers) in enumerate(plan_):
            left = len(plan_) - index
            budget = (len(tokens) - cursor) // left - args.warmup_tokens
            figures, cursor = measure_workers(
                url, database, workers, tokens, cursor, budget, args, workdir, sent
            )
            runs.append({"round": number + 1, **figures})
    finally:
        drop()

    def median(workers: int, phase: str, key: str) -> float:
        values = [r[phase][key] for r in runs if r["workers"] == workers]
        return float(round(statistics.median(values), 2))

    summary = {
        str(w): {
            "confirmations_per_s": median(w, "claims", "confirmations_per_s"),
            "claims_p50_ms": median(w, "claims", "p50_ms"),
            "claims_p99_ms": median(w, "claims", "p99_ms"),
            "healthz_req_per_s": median(w, "healthz", "req_per_s"),
            "healthz_p50_ms": median(w, "healthz", "p50_ms"),
            "healthz_p99_ms": median(w, "healthz", "p99_ms"),
            "met": median(w, "claims", "confirmations_per_s") >= TARGET_RATE
            and median(w, "claims", "p99_ms") <= TARGET_P99_MS,
        }
        for w in args.workers
    }
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "offers": args.offers,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "freeze_gc": args.freeze_gc,
        "server": "uvicorn claim_bench:frozen_app" if args.freeze_gc else "makegood serve",
        "duration_s": args.duration,
        "database": "postgresql",
        **setup,
        "runs": runs,
        "summary": summary,
        "all_checks_ok": all(r["claims"]["check_ok"] for r in runs),
        "exhausted": any(r["claims"]["exhausted"] for r in runs),
        "max_other_cores": max(r[p]["other_cores"] for r in runs for p in ("healthz", "claims")),
        "code": fingerprint,
        "target": {"confirmations_per_s": TARGET_RATE, "p99_ms": TARGET_P99_MS},
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "wrk": (wrk_version.stdout or wrk_version.stderr).split("\n")[0].split(" [")[0],
    }
    if args.json_out:
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
    json.dump(record, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
