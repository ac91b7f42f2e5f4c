"""Benchmark: N `makegood worker` processes on PostgreSQL against one SMTP sink.

Setup (not measured): a scratch PostgreSQL database with M letters queued by makegood's
own plan, approve and execute (as in send_bench.py). An SMTP sink (aiosmtpd, "250 OK"
to everything) runs in a process of its own; it notes the Message-ID of every
message and when it was accepted, and writes nothing to disk.

Measured, for each N in --workers (1, 2, 4), against that sink:

- N real `makegood worker` processes, each with --connections connections. They are
  started while the outbox is parked (every message "retrying", due in a day), and
  their CPU is read from /proc once each has said it is ready; then the outbox is put
  back to "queued" in one statement. The phase ends when the sink has every message and
  the outbox has nothing pending (every outcome recorded); the CPU is read again,
  then the workers are stopped.
- msg/s: messages ÷ the time from the sink's first accept to its last;
- sender CPU ms/msg: the workers' user + system CPU (all their threads) ÷ messages;
- duplicates: messages the sink received beyond one per Message-ID (must be 0).

Before each N, in the same run and against the same sink: the bare aiosmtplib bytes
loop in N processes of its own, each sending its share of the M messages over
--connections connections (the same subject, text and HTML as makegood's first letter,
serialised before timing, sent with ``sendmail``, no database). It shows what N
processes on this machine cost per message before makegood does any work of its own.

    python bench/workers_bench.py --messages 20000 --workers 1,2,4

One JSON record per run goes to bench/results/workers.jsonl. The script exits with
status 1 if any phase lost a message or delivered one twice.
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import email.utils
import json
import multiprocessing
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtplib.email import flatten_message
from sqlalchemy import Engine, text

from makegood.adapters.mailbox import free_port
from makegood.db.engine import make_engine
from send_bench import (
    BASE_URL,
    SECRET,
    SENT_AT,
    bytes_loop,
    code_fingerprint,
    postgres_pids,
    proc_cpu,
    queue_messages,
    reset_outbox,
    sample_letter,
    scratch_database,
    settings_for,
    settle,
)

MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.MULTILINE | re.IGNORECASE)
READY = "makegood worker: sending to"

# -- the sink (its own process) ----------------------------------------------------------


class Tally:
    """aiosmtpd handler: every Message-ID and when the first and last message came."""

    def __init__(self) -> None:
        self.ids: Counter[bytes] = Counter()
        self.first = self.last = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.perf_counter()
        self.first = self.first or now
        self.last = now
        found = MESSAGE_ID.search(envelope.original_content or envelope.content or b"")
        self.ids[found.group(1) if found else b""] += 1
        return "250 OK"


def serve_sink(port: int, conn: Connection) -> None:
    """Runs in the sink process: 'stats' answers the counts since the last 'stats'."""
    from aiosmtpd.controller import Controller

    tally = Tally()
    controller = Controller(tally, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    conn.send("ready")
    try:
        while (command := conn.recv()) != "stop":
            if command == "count":
                conn.send(sum(tally.ids.values()))
            elif command == "stats":
                received, unique = sum(tally.ids.values()), len(tally.ids)
                conn.send((received, unique, tally.last - tally.first))
                tally.ids.clear()
                tally.first = tally.last = 0.0
    finally:
        controller.stop()


class Sink:
    def __init__(self) -> None:
        self.port = free_port()
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve_sink, args=(self.port, child), daemon=True)
        self.process.start()
        if not self.conn.poll(30) or self.conn.recv() != "ready":
            raise RuntimeError("the SMTP sink did not start")

    def ask(self, command: str) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    def cpu(self) -> float:
        return proc_cpu(self.process.pid or 0)

    def stop(self) -> None:
        if self.process.is_alive():
            self.conn.send("stop")
        self.process.join(10)


# -- the bare loop -----------------------------------------------------------------------


def bare_bytes(count: int, subject: str, body: str, html: str) -> Iterator[tuple[str, str, bytes]]:
    """``count`` messages like makegood's, each serialised as send_message would send it."""
    sender = Address("Example Video", "apologies", "example.com")
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
        yield (sender.addr_spec, f"m{i}@example.com", flatten_message(mail))


def bare_process(
    port: int, flat: list[tuple[str, str, bytes]], connections: int, conn: Connection
) -> None:
    """Runs in a process of its own: on 'go', send ``flat``; answer the CPU it took."""
    conn.send("ready")
    conn.recv()
    own = time.process_time()
    asyncio.run(bytes_loop(port, flat, connections))
    conn.send(time.process_time() - own)


def measure_bare(
    sink: Sink, flat: list[tuple[str, str, bytes]], count: int, connections: int
) -> dict:
    """The bytes loop in ``count`` processes at once, each with its share of the messages."""
    ctx = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for share in (flat[i::count] for i in range(count)):
        mine, theirs = ctx.Pipe()
        process = ctx.Process(target=bare_process, args=(sink.port, share, connections, theirs))
        process.start()
        pipes.append(mine)
        processes.append(process)
    for pipe in pipes:
        if not pipe.poll(120) or pipe.recv() != "ready":
            raise RuntimeError("a bare loop process did not start")
    sink.ask("stats")
    sink_cpu = sink.cpu()
    for pipe in pipes:
        pipe.send("go")
    spent = [pipe.recv() for pipe in pipes]
    sink_cpu = sink.cpu() - sink_cpu
    for process in processes:
        process.join(30)
    return {"processes": count, **figures(sink, len(flat), sum(spent), sink_cpu, 0.0)}


# -- the workers -------------------------------------------------------------------------


def park(url: str, engine: Engine) -> None:
    """Every message back to 'queued' (as send_bench does), then held a day away."""
    reset_outbox(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE messages SET status = 'retrying', "
                "next_attempt_at = now() + interval '1 day'"
            )
        )


def release(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET status = 'queued', next_attempt_at = NULL"))


def pending(engine: Engine) -> int:
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT count(*) FROM messages WHERE status IN ('queued', 'retrying', 'sending')")
        )
        return int(found.scalar_one())


def worker_env(url: str, port: int, connections: int, batch_size: int) -> dict[str, str]:
    return {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": url,
        "MAKEGOOD_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "MAKEGOOD_SECRET_KEY": SECRET,
        "MAKEGOOD_BASE_URL": BASE_URL,
        "MAKEGOOD_NOW": SENT_AT.isoformat(),
        "MAKEGOOD_DELIVERY__CONNECTIONS": str(connections),
        "MAKEGOOD_DELIVERY__BATCH_SIZE": str(batch_size),
        "MAKEGOOD_DELIVERY__POLL_SECONDS": "0.2",
    }


def start_workers(count: int, env: dict[str, str], cwd: str) -> list[subprocess.Popen[str]]:
    """``count`` workers, each returned once it has said it is ready."""
    command = [sys.executable, "-m", "makegood", "--json", "worker"]
    workers = [
        subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    for worker in workers:
        assert worker.stderr is not None
        line = worker.stderr.readline()
        if READY not in line:
            raise RuntimeError(f"a worker did not start: {line}{worker.stderr.read()}")
    return workers


def measure_workers(
    sink: Sink, url: str, database: str, count: int, messages: int, args: argparse.Namespace
) -> dict[str, Any]:
    engine = make_engine(url)
    park(url, engine)
    settle(args.settle)
    sink.ask("stats")
    env = worker_env(url, sink.port, args.connections, args.batch_size)
    with tempfile.TemporaryDirectory() as cwd:  # no makegood.toml but the environment's
        workers = start_workers(count, env, cwd)
        cpu = {w.pid: proc_cpu(w.pid) for w in workers}
        sink_cpu, pg = sink.cpu(), {pid: proc_cpu(pid) for pid in postgres_pids(database)}
        release(engine)
        deadline = time.monotonic() + args.timeout
        # Done when the sink has every message and every outcome is recorded.
        while sink.ask("count") < messages or pending(engine):
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                break
            time.sleep(0.05)
        by_worker = [round(proc_cpu(pid) - before, 2) for pid, before in cpu.items()]
        spent = sum(by_worker)
        sink_cpu = sink.cpu() - sink_cpu
        pg_cpu = sum(proc_cpu(p) - pg.get(p, 0.0) for p in postgres_pids(database))
        counts = [stop(w) for w in workers]
    result = figures(sink, messages, spent, sink_cpu, pg_cpu)
    result["left_pending"] = pending(engine)
    engine.dispose()
    result["sent_by_worker"] = [c.get("sent") for c in counts]
    result["cpu_s_by_worker"] = by_worker
    return {"workers": count, **result}


def stop(worker: subprocess.Popen[str]) -> dict[str, Any]:
    """SIGTERM, then the counts the worker printed (empty if it printed none)."""
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=60)
    try:
        found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        found = {}
    return found


def figures(sink: Sink, messages: int, cpu: float, sink_cpu: float, pg_cpu: float) -> dict:
    received, unique, span = sink.ask("stats")
    per = 1000 / max(messages, 1)
    return {
        "messages": messages,
        "received": received,
        "duplicates": received - unique,
        "seconds": round(span, 2),
        "msg_per_s": round(received / span, 1) if span else None,
        "sender_cpu_ms_per_msg": round(cpu * per, 3),
        "sink_cpu_ms_per_msg": round(sink_cpu * per, 3),
        "postgres_cpu_ms_per_msg": round(pg_cpu * per, 3),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--connections", type=int, default=16, help="per worker")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--mode", choices=["automatic", "claim"], default="automatic")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--settle", type=float, default=60, help="seconds to wait for idle")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per phase")
    parser.add_argument("--json-out", type=Path, default=Path("bench/results/workers.jsonl"))
    args = parser.parse_args()

    sink = Sink()
    url, database, cleanup = scratch_database("postgresql")
    rounds: list[dict[str, Any]] = []
    try:
        setup = queue_messages(url, args.messages, args.mode)
        settings = settings_for(url, sink.port, args.connections, args.batch_size)
        flat = list(bare_bytes(setup["queued"], *sample_letter(url, settings)))
        for number in range(args.rounds):
            result: dict[str, Any] = {"bare_bytes": [], "workers": []}
            for count in (int(n) for n in args.workers.split(",")):
                settle(args.settle)
                bare = measure_bare(sink, flat, count, args.connections)
                print(
                    f"round {number + 1} bare bytes x{count}: {json.dumps(bare)}", file=sys.stderr
                )
                result["bare_bytes"].append(bare)
                assert database is not None
                phase = measure_workers(sink, url, database, count, setup["queued"], args)
                print(f"round {number + 1} workers={count}: {json.dumps(phase)}", file=sys.stderr)
                result["workers"].append(phase)
            rounds.append(result)
    finally:
        sink.stop()
        cleanup()

    phases = [p for r in rounds for p in r["workers"] + r["bare_bytes"]]
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": args.mode,
        "connections_per_worker": args.connections,
        "batch_size": args.batch_size,
        **setup,
        "rounds": rounds,
        "code": code_fingerprint(),
        "ok": all(p["duplicates"] == 0 and p["received"] == p["messages"] for p in phases),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "aiosmtplib": aiosmtplib.__version__,
    }
    if str(args.json_out):
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        with args.json_out.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
    json.dump(record, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.exit(0 if record["ok"] else 1)


if __name__ == "__main__":
    main()
