"""Benchmark: render + send N messages to a local SMTP sink, beside a bare aiosmtplib loop.

Setup (not measured): a fresh database with N customers and one incident, planned,
approved and executed with makegood's own use cases (as in campaign_bench.py), so N
messages wait in the outbox. An SMTP sink (aiosmtpd, "250 OK" to everything, nothing
written) runs in its own process, so it does not share the sender's GIL.

Measured, against that sink in the same run:

- bare loop: N pre-built ``EmailMessage`` objects (text + HTML, the same bodies as
  makegood's letters) handed to aiosmtplib's ``send_message`` over C persistent
  connections, one asyncio task per connection, no database. ``send_message``
  serialises the message on every send;
- bare bytes: the same loop over the same messages serialised beforehand, sent with
  ``sendmail``: the least a sender can do per message;
- makegood: ``Sender.run("until_empty")`` with C connections: leases batches, loads
  the facts, renders the Jinja templates, builds the MIME, sends, records every
  outcome (group commit).

Each is measured ``--rounds`` times (2), the order reversed every other round. Before
each makegood run the outbox is put back to "queued" (not timed), then vacuumed and
checkpointed.

    python bench/send_bench.py --messages 20000 --mode automatic
    python bench/send_bench.py --messages 20000 --mode claim
    python bench/send_bench.py --database sqlite:///bench/data/send.db

Target (the delivery issue): makegood at least 0.8x the bare loop's msg/s, on the
same sink in the same run, which is also above listmonk's reported ~830 msg/s per SMTP
relay. The issue's "about 1,800 msg/s with 16 connections" is what the bare *bytes*
loop does on 2 cores; the EmailMessage loop does about half that. Both ratios are
reported.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import email.policy
import email.utils
import gc
import hashlib
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtplib.email import flatten_message
from sqlalchemy import Engine, create_engine, insert, select, text

from campaign_bench import NOW, POLICY, bench_incident
from campaign_bench import setup as pg_setup
from makegood.adapters.mailbox import free_port
from makegood.campaigns.execution import execute
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.campaigns.terms import Terms
from makegood.config import DeliverySettings, Settings
from makegood.core.clock import FixedClock
from makegood.core.tokens import Sealer
from makegood.customers.models import Customer
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.wiring import build_root
from makegood.impact.models import Impact
from makegood.messaging import facts as facts_
from makegood.messaging.letters import compose
from makegood.messaging.models import Message
from makegood.messaging.rendering import Renderer
from makegood.messaging.sender import for_root
from makegood.policy.schema import parse_policy

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-key-0123456789"
SENT_AT = NOW + timedelta(hours=2)
BASE_URL = "https://video.example.com"
TARGET = 0.8
LISTMONK = 830  # msg/s per SMTP relay, as listmonk reports it
IDLE_CORES = 0.15
PHASES = ("bare_bytes", "bare", "makegood")
# The code a send goes through, relative to the makegood package (for the fingerprint).
MEASURED_CODE = ("messaging", "adapters/smtp.py", "db/uow.py", "db/engine.py", "config.py")


def code_fingerprint() -> str:
    """A hash of the delivery code as imported: runs with different fingerprints
    measured different code."""
    import makegood

    root = Path(makegood.__file__).parent
    digest = hashlib.sha256()
    for name in MEASURED_CODE:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.suffix != ".pyc":
                digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


# -- the sink (its own process) ---------------------------------------------------------


class Discard:
    """aiosmtpd handler: count what arrives, keep nothing."""

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        self.bytes += len(envelope.original_content or envelope.content or b"")
        return "250 OK"


def serve_sink(port: int, conn: Connection) -> None:
    """Runs in the sink process: serve until told to stop; answer 'stats' with counts."""
    from aiosmtpd.controller import Controller

    handler = Discard()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        enable_SMTPUTF8=True,
        data_size_limit=25 * 1024 * 1024,
    )
    controller.start()
    conn.send("ready")
    try:
        while True:
            command = conn.recv()
            if command == "stats":  # counts since the last 'stats'
                conn.send((handler.count, handler.bytes))
                handler.count = handler.bytes = 0
            elif command == "stop":
                break
    finally:
        controller.stop()
        conn.send("stopped")


class Sink:
    def __init__(self) -> None:
        self.port = free_port()
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve_sink, args=(self.port, child), daemon=True)
        self.process.start()
        if not self.conn.poll(30) or self.conn.recv() != "ready":
            raise RuntimeError("the SMTP sink did not start")

    def stats(self) -> tuple[int, int]:
        self.conn.send("stats")
        count, size = self.conn.recv()
        return int(count), int(size)

    def stop(self) -> None:
        if self.process.is_alive():
            self.conn.send("stop")
            self.conn.poll(10)
        self.process.join(10)


# -- CPU accounting ----------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as proc:
            parts = proc.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / TICK  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_cpu() -> float:
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICK  # minus idle and iowait


def postgres_pids(database: str | None) -> list[int]:
    """This run's backends and the server's own processes (WAL writer, checkpointer...);
    not other databases' backends."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if not cmd.startswith("postgres:"):
            continue
        backend = "(" in cmd or "[local]" in cmd
        if not backend or (database is not None and f" {database} " in cmd):
            pids.append(int(entry))
    return pids


class CpuMeter:
    """CPU seconds of this process, the sink, PostgreSQL and the machine over a phase."""

    def __init__(self, sink_pid: int, database: str | None) -> None:
        self.sink_pid, self.database = sink_pid, database

    def __enter__(self) -> CpuMeter:
        self.load = os.getloadavg()[0]
        self.pg_before = {pid: proc_cpu(pid) for pid in postgres_pids(self.database)}
        self.sink = proc_cpu(self.sink_pid)
        self.own = time.process_time()
        self.busy = machine_cpu()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.started
        busy = machine_cpu() - self.busy
        self.own = time.process_time() - self.own
        self.sink = proc_cpu(self.sink_pid) - self.sink
        pg_after = {pid: proc_cpu(pid) for pid in postgres_pids(self.database)}
        self.pg = sum(v - self.pg_before.get(pid, 0.0) for pid, v in pg_after.items())
        self.others = max(0.0, busy - self.own - self.sink - self.pg)

    def figures(self, messages: int) -> dict[str, float]:
        per = 1000 / max(messages, 1)
        return {
            "sender_cpu_ms_per_msg": round(self.own * per, 3),
            "sink_cpu_ms_per_msg": round(self.sink * per, 3),
            "sender_cpu_s": round(self.own, 2),
            "sink_cpu_s": round(self.sink, 2),
            "postgres_cpu_s": round(self.pg, 2),
            "other_cores": round(self.others / self.wall, 2),
            "loadavg_1m_before": round(self.load, 2),
        }


def machine_busy(seconds: float = 2.0) -> float:
    before, own, started = machine_cpu(), time.process_time(), time.perf_counter()
    time.sleep(seconds)
    spent = machine_cpu() - before - (time.process_time() - own)
    return spent / (time.perf_counter() - started)


def settle(limit: float) -> float:
    """Wait up to ``limit`` seconds for the machine to go idle; the busy cores last seen."""
    started = time.perf_counter()
    busy = machine_busy()
    while busy > IDLE_CORES and time.perf_counter() - started < limit:
        busy = machine_busy()
    return round(busy, 2)


# -- setup (not measured) ----------------------------------------------------------------


def customers_for(messages: int) -> int:
    """Customers to create so that exactly ``messages`` are not excluded (every 25th
    customer is cancelled)."""
    count = messages + messages // 24
    while count - count // 25 < messages:
        count += 1
    while count - count // 25 > messages:
        count -= 1
    return count


def sqlite_setup(url: str, customers: int) -> int:
    """The same customers and impacts as campaign_bench's setup, written from Python."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    zones = [
        "America/New_York",
        "America/Chicago",
        "America/Los_Angeles",
        "Europe/London",
        "Europe/Berlin",
        "Asia/Tokyo",
        "America/Sao_Paulo",
        "Asia/Bahrain",
    ]
    currencies = ["USD", "USD", "USD", "GBP", "EUR", "JPY", "BRL", "BHD"]
    prices = [1549, 899, 2299, 1099, 1399, 1590, 4490, 3900]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Customer),
            [
                {
                    "customer_id": f"c{i:09d}",
                    "email": f"m{i}@example.com",
                    "first_name": "Sam",
                    "locale": "en-US",
                    "timezone": zones[i % 8],
                    "country": "US",
                    "status": "cancelled" if i % 25 == 0 else "active",
                    "plan": "standard",
                    "monthly_price_minor": prices[i % 8],
                    "currency": currencies[i % 8],
                    "next_bill_date": (NOW + timedelta(days=i % 28)).date(),
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, customers + 1)
            ],
        )
    with UnitOfWork(engine) as uow:
        incident = bench_incident(uow.session, customers)
        uow.session.flush()
        uow.session.execute(
            insert(Impact),
            [
                {
                    "incident_id": incident.id,
                    "customer_id": f"c{i:09d}",
                    "confidence": "possible" if i % 3 == 0 else "confirmed",
                    "magnitude": 1 + i % 5,
                    "rule": "bench",
                    "evidence": "[]",
                }
                for i in range(1, customers + 1)
            ],
        )
        uow.commit()
        incident_id = incident.id
    engine.dispose()
    return incident_id


def queue_messages(url: str, messages: int, mode: str) -> dict[str, Any]:
    """A fresh database with ``messages`` letters waiting in the outbox."""
    customers = customers_for(messages)
    started = time.perf_counter()
    if url.startswith("sqlite"):
        incident_id = sqlite_setup(url, customers)
    else:
        incident_id = pg_setup(url, customers)
    engine = make_engine(url)
    claim = "claim_days = 7" if mode == "claim" else ""
    policy = parse_policy(POLICY.format(percent="5", mode=mode, claim=claim))
    with UnitOfWork(engine) as uow:
        campaign = plan(uow.session, incident_id, policy, Decimal(0), NOW, "bench")
        approve(uow.session, campaign.id, "bench", NOW)
        uow.commit()
    result = execute(engine, campaign.id, NOW, "bench", SECRET)
    engine.dispose()
    return {
        "customers": customers,
        "queued": result.messages,
        "setup_s": round(time.perf_counter() - started, 1),
    }


def reset_outbox(url: str) -> None:
    """Every message back to 'queued' with no attempts, then vacuum and checkpoint, so
    each makegood round starts from the same outbox."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE messages SET status = 'queued', attempts = 0, leased_by = NULL, "
                "lease_until = NULL, next_attempt_at = NULL, provider_message_id = NULL, "
                "recipient = NULL, sent_at = NULL, last_error = NULL"
            )
        )
        conn.execute(text("DELETE FROM delivery_attempts"))
    with engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        if engine.dialect.name == "postgresql":
            auto.execute(text("VACUUM ANALYZE messages, delivery_attempts"))
            auto.execute(text("CHECKPOINT"))
        else:
            auto.execute(text("VACUUM"))
            auto.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()


def settings_for(url: str, port: int, connections: int, batch_size: int) -> Settings:
    return Settings(
        database_url=url,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key=SECRET,
        base_url=BASE_URL,
        delivery=DeliverySettings(connections=connections, batch_size=batch_size),
    )


def sample_letter(url: str, settings: Settings) -> tuple[str, str, str]:
    """Subject, text and HTML of the first queued message, rendered by makegood: the
    bare loop sends the same bodies."""
    engine = make_engine(url)
    with UnitOfWork(engine) as uow:
        first = uow.session.scalar(select(Message.id).order_by(Message.id).limit(1))
        assert first is not None
        [item] = facts_.load(
            uow.session,
            [first],
            sealer=Sealer(SECRET),
            base_url=BASE_URL,
            sent_at=SENT_AT,
            terms=Terms(),
        )
    engine.dispose()
    letter = compose(Renderer(None), item.facts, settings.company)
    return letter.subject, letter.text, letter.html


def bare_messages(count: int, subject: str, body: str, html: str) -> list[EmailMessage]:
    """``count`` finished messages, built with the standard library alone."""
    sender = Address("Example Video", "apologies", "example.com")
    out = []
    for i in range(1, count + 1):
        mail = EmailMessage(policy=email.policy.SMTP)
        mail["From"] = sender
        mail["To"] = Address("Sam", f"m{i}", "example.com")
        mail["Reply-To"] = sender
        mail["Subject"] = subject
        mail["Date"] = email.utils.format_datetime(SENT_AT)
        mail["Message-ID"] = f"<bare.{i}@example.com>"
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(body, cte="quoted-printable")
        mail.add_alternative(html, subtype="html", cte="quoted-printable")
        mail["Content-Language"] = "en-US"
        out.append(mail)
    return out


# -- the two measured loops --------------------------------------------------------------


async def bare_loop(port: int, messages: list[EmailMessage], connections: int) -> int:
    """Send every message over ``connections`` persistent connections; how many the sink
    accepted."""
    queue = iter(messages)  # shared: each task takes the next message when it is free

    async def worker() -> int:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await client.connect()
        sent = 0
        try:
            for mail in queue:
                errors, _ = await client.send_message(mail)
                sent += not errors
        finally:
            await client.quit()
        return sent

    return sum(await asyncio.gather(*(worker() for _ in range(connections))))


async def bytes_loop(port: int, messages: list[tuple[str, str, bytes]], connections: int) -> int:
    """The same, with each message already serialised: (MAIL FROM, RCPT TO, bytes)."""
    queue = iter(messages)

    async def worker() -> int:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await client.connect()
        sent = 0
        try:
            for mail_from, rcpt_to, raw in queue:
                errors, _ = await client.sendmail(mail_from, [rcpt_to], raw)
                sent += not errors
        finally:
            await client.quit()
        return sent

    return sum(await asyncio.gather(*(worker() for _ in range(connections))))


def serialised(messages: list[EmailMessage]) -> list[tuple[str, str, bytes]]:
    """Each message as (MAIL FROM, RCPT TO, the bytes send_message would send)."""
    return [
        (m["From"].addresses[0].addr_spec, m["To"].addresses[0].addr_spec, flatten_message(m))
        for m in messages
    ]


def measure_bare(
    sink: Sink, loop: Coroutine[Any, Any, int], database: str | None
) -> dict[str, Any]:
    sink.stats()
    with CpuMeter(sink.process.pid or 0, database) as meter:
        sent = asyncio.run(loop)
    received, size = sink.stats()
    return {
        "seconds": round(meter.wall, 2),
        "sent": sent,
        "received": received,
        "msg_per_s": round(sent / meter.wall, 1),
        "avg_bytes": round(size / max(received, 1)),
        **meter.figures(sent),
    }


def measure_makegood(
    sink: Sink, url: str, settings: Settings, database: str | None, profile: Path | None = None
) -> dict[str, Any]:
    engine = make_engine(url)
    sender = for_root(build_root(settings, FixedClock(SENT_AT), engine))
    profiler = cProfile.Profile() if profile else None
    sink.stats()
    with CpuMeter(sink.process.pid or 0, database) as meter:
        if profiler:
            profiler.enable()
        counts = asyncio.run(sender.run("until_empty"))
        if profiler:
            profiler.disable()
    received, size = sink.stats()
    engine.dispose()
    if profiler and profile:
        profiler.dump_stats(profile)
    return {
        "seconds": round(meter.wall, 2),
        "sent": counts.sent,
        "failed": counts.failed,
        "retrying": counts.retrying,
        "received": received,
        "msg_per_s": round(counts.sent / meter.wall, 1),
        "avg_bytes": round(size / max(received, 1)),
        **meter.figures(counts.sent),
    }


def scratch_database(option: str) -> tuple[str, str | None, Any]:
    """(URL, PostgreSQL database name or None, cleanup)."""
    if option.startswith("sqlite"):
        path = Path(option.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)

        def drop_file() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

        return option, None, drop_file
    server = ADMIN if option == "postgresql" else option
    name = f"makegood_send_bench_{os.getpid()}"
    admin: Engine = create_engine(server, isolation_level="AUTOCOMMIT")
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
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--mode", choices=["automatic", "claim"], default="automatic")
    parser.add_argument(
        "--database",
        default="postgresql",
        help="'postgresql' (a scratch database on 127.0.0.1:5432), a PostgreSQL server URL "
        "to make the scratch database on, or sqlite:///PATH (made afresh, removed after)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--settle", type=float, default=60, help="seconds to wait for idle")
    parser.add_argument(
        "--profile",
        type=Path,
        help="after the measured rounds, one more makegood run under cProfile (main "
        "thread only) written to this file; not part of the figures",
    )
    parser.add_argument("--json-out", type=Path, default=Path("bench/results/send.jsonl"))
    args = parser.parse_args()

    fingerprint = code_fingerprint()
    sink = Sink()
    url, database, cleanup = scratch_database(args.database)
    rounds: list[dict[str, Any]] = []
    try:
        setup = queue_messages(url, args.messages, args.mode)
        settings = settings_for(url, sink.port, args.connections, args.batch_size)
        prebuilt = bare_messages(setup["queued"], *sample_letter(url, settings))
        flat = serialised(prebuilt)
        gc.freeze()  # the pre-built messages stay out of every later garbage collection
        for number in range(args.rounds):
            order = list(PHASES) if number % 2 == 0 else list(reversed(PHASES))
            result: dict[str, Any] = {"order": order}
            for which in order:
                if which == "makegood":
                    reset_outbox(url)
                busy = settle(args.settle)
                if which == "makegood":
                    figures = measure_makegood(sink, url, settings, database)
                elif which == "bare":
                    loop = bare_loop(sink.port, prebuilt, args.connections)
                    figures = measure_bare(sink, loop, database)
                else:
                    loop = bytes_loop(sink.port, flat, args.connections)
                    figures = measure_bare(sink, loop, database)
                result[which] = {"busy_cores_before": busy, **figures}
                print(f"round {number + 1} {which}: {json.dumps(result[which])}", file=sys.stderr)
            for reference in ("bare", "bare_bytes"):
                ratio = result["makegood"]["msg_per_s"] / result[reference]["msg_per_s"]
                result["ratio" if reference == "bare" else "ratio_vs_bytes"] = round(ratio, 3)
            rounds.append(result)
        if args.profile:
            reset_outbox(url)
            measure_makegood(sink, url, settings, database, args.profile)
    finally:
        sink.stop()
        cleanup()

    bare = statistics.median(r["bare"]["msg_per_s"] for r in rounds)
    bare_bytes = statistics.median(r["bare_bytes"]["msg_per_s"] for r in rounds)
    makegood = statistics.median(r["makegood"]["msg_per_s"] for r in rounds)
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "messages": args.messages,
        "mode": args.mode,
        "connections": args.connections,
        "batch_size": args.batch_size,
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        **setup,
        "rounds": rounds,
        "code": fingerprint,
        "bare_bytes_msg_per_s": round(bare_bytes, 1),
        "bare_msg_per_s": round(bare, 1),
        "makegood_msg_per_s": round(makegood, 1),
        "ratio": round(makegood / bare, 3),
        "target_ratio": TARGET,
        "met": makegood / bare >= TARGET,
        "ratio_vs_bytes": round(makegood / bare_bytes, 3),
        "met_vs_bytes": makegood / bare_bytes >= TARGET,
        "listmonk_msg_per_s": LISTMONK,
        "max_other_cores": max(r[w]["other_cores"] for r in rounds for w in PHASES),
        "bare_avg_bytes": rounds[0]["bare"]["avg_bytes"],
        "makegood_avg_bytes": rounds[0]["makegood"]["avg_bytes"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "aiosmtplib": aiosmtplib.__version__,
    }
    if args.json_out and str(args.json_out):
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        with args.json_out.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
    json.dump(record, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
