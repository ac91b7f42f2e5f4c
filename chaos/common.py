"""What the chaos scripts share: throwaway PostgreSQL databases, a company built with
the real `makegood` command, victims run as child processes and killed, a real SMTP
sink that counts what it receives, localstripe, and the figures table.

Everything here talks to makegood from the outside, as an operator would: the CLI and
its MAKEGOOD_* settings, SMTP, HTTP, and SQL to count rows afterwards.
"""

# ruff: noqa: S105, S603

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from aiosmtpd.smtp import SMTP, Envelope, Session

from makegood.adapters import mailbox

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
RESULTS = ROOT / "chaos" / "results"
ADMIN_DSN = os.environ.get("MAKEGOOD_CHAOS_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "chaos-secret-key-0123456789"
NOW = "2026-03-12T12:00:00+00:00"  # business time of planning and execution
LATER = "2026-03-12T14:00:00+00:00"  # of sending and claiming
WINDOW = ("2026-03-10T00:30:00Z", "2026-03-10T02:30:00Z")
HEADER = (
    *("customer_id", "email", "first_name", "locale", "timezone", "country", "status"),
    *("plan", "monthly_price", "currency", "next_bill_date", "billing_id"),
)
POLICY = """name = "chaos"
version = 1
[[rules]]
name = "streaming trouble"
services = ["streaming"]
confidence = ["confirmed"]
amount = {{ percent_of_monthly_price = "2" }}
mode = "{mode}"
{claim}
[limits]
minimum = "0.01"
"""
LINK = re.compile(r"https?://[^\s\"'<>]+(/claim/[A-Za-z0-9_\-]+)")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
DELIVERY = {
    "delivery__lease_seconds": 2,
    "delivery__batch_size": 20,
    "delivery__connections": 4,
    "delivery__poll_seconds": 0.2,
    "delivery__backoff_seconds": 0.2,
    "delivery__backoff_max_seconds": 1,
}
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(.+?)\r?$", re.IGNORECASE | re.MULTILINE)


# ------------------------------------------------------------------ PostgreSQL


def with_database(dsn: str, name: str) -> str:
    """The URL ``dsn`` pointed at database ``name``."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


@dataclass
class Server:
    """A PostgreSQL server reached through its ``postgres`` database."""

    admin_dsn: str = ADMIN_DSN
    made: list[str] = field(default_factory=list)

    def sql(self, statement: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(statement.encode(), args or None)
            return cur.fetchall() if cur.description else []

    def create(self, name: str, template: str | None = None) -> str:
        source = f' TEMPLATE "{template}"' if template else ""
        self.sql(f'CREATE DATABASE "{name}"{source}')
        self.made.append(name)
        return self.url(name)

    def drop(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.made:
            self.made.remove(name)

    def drop_all(self) -> None:
        for name in reversed(list(self.made)):
            with contextlib.suppress(psycopg.Error):
                self.drop(name)

    def url(self, name: str) -> str:
        return with_database(self.admin_dsn, name)

    def terminate(self, name: str) -> int:
        """pg_terminate_backend every connection to database ``name``; how many."""
        rows = self.sql(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            name,
        )
        return int(rows[0][0])


def query(url: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute(statement.encode(), args or None).fetchall()


def scalar(url: str, statement: str, *args: Any) -> Any:
    return query(url, statement, *args)[0][0]


PENDING = "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending', 'retrying')"


def per_offer(url: str, campaign: int) -> list[tuple[int, int, int]]:
    """(offer id, ledger entries, messages) for every offer of the campaign."""
    return query(
        url,
        "SELECT o.id, (SELECT count(*) FROM ledger_entries l WHERE l.offer_id = o.id),"
        " (SELECT count(*) FROM messages m WHERE m.offer_id = o.id)"
        " FROM offers o WHERE o.campaign_id = %s",
        campaign,
    )


# ---------------------------------------------------------------- the company


def makegood_env(url: str, now: str = NOW, **settings: object) -> dict[str, str]:
    """The environment of a `makegood` process: MAKEGOOD_* for the database, secret,
    business time, and ``settings`` (``delivery__lease_seconds=2`` and the like)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKEGOOD_")}
    env.update(
        MAKEGOOD_DATABASE_URL=url,
        MAKEGOOD_SECRET_KEY=SECRET,
        MAKEGOOD_NOW=now,
        MAKEGOOD_BASE_URL="https://video.example.com",
    )
    env.update({f"MAKEGOOD_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def command(*args: str) -> list[str]:
    return [str(PYTHON), "-m", "makegood", "--json", *args]


def makegood(env: dict[str, str], *args: str) -> Any:
    """Run one command to its end; its JSON answer. A refusal stops the script."""
    done = subprocess.run(command(*args), env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"makegood {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def company(
    env: dict[str, str],
    directory: Path,
    size: int,
    mode: str,
    billing_ids: Sequence[str] = (),
) -> int:
    """``size`` customers, each with a streaming error in the outage: an approved
    campaign of ``size`` offers (``automatic`` or ``claim``). Answers its id."""
    directory.mkdir(parents=True, exist_ok=True)
    customers, events = directory / "customers.csv", directory / "events.csv"
    with customers.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(size):
            cid = f"c{i:06d}"
            bill = billing_ids[i] if billing_ids else ""
            row = [cid, f"{cid}@example.com", "Ann", "en-US", "America/New_York", "US"]
            writer.writerow([*row, "active", "basic", "8.99", "USD", "2026-04-01", bill])
    with events.open("w") as fh:
        fh.write("customer_id,occurred_at,service,outcome,device,region\n")
        fh.writelines(f"c{i:06d},2026-03-10T01:00:00Z,streaming,error,tv,na\n" for i in range(size))
    claim = "claim_days = 7" if mode == "claim" else ""
    policy = directory / "policy.toml"
    policy.write_text(POLICY.format(mode=mode, claim=claim))
    makegood(env, "init")
    makegood(env, "customers", "import", str(customers))
    makegood(env, "sources", "add", "usage_events", str(events))
    incident = makegood(
        env,
        "incidents",
        "declare",
        "--service",
        "streaming",
        "--start",
        WINDOW[0],
        "--end",
        WINDOW[1],
        "--title",
        "Streaming outage",
        "--summary",
        "Streaming failed for an evening.",
    )["id"]
    makegood(env, "impact", "run", str(incident))
    campaign = makegood(env, "campaigns", "plan", str(incident), "--policy", str(policy))["id"]
    makegood(env, "campaigns", "approve", str(campaign), "--by", "lead")
    return int(campaign)


# ------------------------------------------------------------------ victims


@dataclass
class Tally:
    """What happened to one target over its rounds."""

    runs: int = 0  # processes started
    kills: int = 0  # SIGKILLs that found the process still running
    errors: list[str] = field(default_factory=list)  # exits other than 0 and SIGKILL
    seconds: float = 0.0  # the processes' time, start to exit

    def add(self, other: Tally) -> None:
        self.seconds += other.seconds
        self.runs += other.runs
        self.kills += other.kills
        self.errors.extend(other.errors)


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill takes any children too
    )


def kill(proc: subprocess.Popen[str]) -> bool:
    """SIGKILL the process group; True if the process was still running."""
    if proc.poll() is not None:
        return False
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # not a group leader, or gone already
        proc.kill()
    proc.wait()
    return proc.returncode == -signal.SIGKILL


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        out, err = proc.communicate()
        return -1, out, f"timed out after {timeout:.0f} s\n{err}"
    return proc.returncode, out, err


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def run_until_done(
    argv: list[str],
    env: dict[str, str],
    kill_after: Sequence[float],
    timeout: float = 300,
    attempts: int = 10,
) -> tuple[Tally, str]:
    """Start ``argv``, SIGKILL it after each delay in ``kill_after`` (a fresh process
    for each), then start it again until it exits 0. Answers the tally and the last
    run's stdout."""
    tally = Tally()
    for delay in kill_after:
        began = time.monotonic()
        proc = start(argv, env)
        tally.runs += 1
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            if kill(proc):
                tally.kills += 1
                continue
        code, out, err = finish(proc, timeout)
        if code == 0:
            tally.seconds += time.monotonic() - began
            return tally, out  # done before the kill came
        tally.errors.append(f"exit {code}: {last_line(err) or last_line(out)}")
    for _ in range(attempts):
        began = time.monotonic()
        proc = start(argv, env)
        tally.runs += 1
        code, out, err = finish(proc, timeout)
        tally.seconds += time.monotonic() - began
        if code == 0:
            return tally, out
        tally.errors.append(f"exit {code}: {last_line(err) or last_line(out)}")
        time.sleep(0.5)
    raise RuntimeError(f"{' '.join(argv)} never finished: {tally.errors[-3:]}")


def classify(code: int, out: str, err: str) -> str:
    """finished | clear error | traceback | hung (killed after its time) | exit N."""
    if code == 0:
        return "finished"
    if code == -1 and err.startswith("timed out after"):
        return "hung"
    if "Traceback (most recent call last)" in err:
        return "traceback"
    if code == 1 and (last_line(err).startswith("error:") or '"error"' in out):
        return "clear error"
    return f"exit {code}"


def worker_until_empty(
    env: dict[str, str], url: str, log: Path, seconds: float = 120
) -> tuple[int, str, str]:
    """`makegood worker` until the outbox is empty, then SIGTERM (once it says it
    handles signals): its exit status, stdout and stderr."""
    with log.open("w") as err:
        proc = subprocess.Popen(
            command("worker"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,  # as start(): kill() takes its process group
        )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                empty = not scalar(url, PENDING)
            except psycopg.Error:  # the database is away for a moment: ask again
                empty = False
            if empty and "Ctrl-C stops" in log.read_text():
                break
            time.sleep(0.1)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code, out, _ = finish(proc, 60)
    said = log.read_text()
    return code, out, f"timed out after SIGTERM\n{said}" if code == -1 else said


# ------------------------------------------------------------------ SMTP sink


class Sink(mailbox.MailboxHandler):
    """The built-in mailbox's handler, counting in memory what it accepted: each
    message's Message-ID and recipients. With ``keep`` it also stores the .eml files
    (to read claim links from)."""

    def __init__(self, directory: Path, keep: bool = False) -> None:
        super().__init__(directory)
        self.keep = keep
        self.accepted: list[tuple[str, tuple[str, ...]]] = []
        self._seen = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        head = raw.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(head)
        message_id = found.group(1).decode(errors="replace").strip() if found else ""
        if self.keep:
            self.store(envelope)
        with self._seen:
            self.accepted.append((message_id, tuple(str(r) for r in envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def reset(self) -> None:
        with self._seen:
            self.accepted = []

    def tally(self, expected: set[str]) -> dict[str, int]:
        """Lost and duplicated, per recipient, against the addresses that should each
        have had one message; a duplicate with the same Message-ID is also counted as
        such (SMTP cannot tell a reply lost after the data was taken)."""
        with self._seen:
            accepted = list(self.accepted)
        per_rcpt: Counter[str] = Counter()
        ids: dict[str, Counter[str]] = {}
        for message_id, rcpts in accepted:
            for rcpt in rcpts:
                per_rcpt[rcpt.lower()] += 1
                ids.setdefault(rcpt.lower(), Counter())[message_id] += 1
        duplicated = sum(n - 1 for n in per_rcpt.values() if n > 1)
        same_id = sum(n - 1 for c in ids.values() for n in c.values() if n > 1)
        return {
            "received": len(accepted),
            "lost": len(expected - set(per_rcpt)),
            "duplicated": duplicated,
            "same_message_id": same_id,
            "strangers": len(set(per_rcpt) - expected),
        }


@contextlib.contextmanager
def smtp_sink(directory: Path, keep: bool = False) -> Iterator[tuple[Sink, int]]:
    handler = Sink(directory, keep)
    controller = mailbox.start(directory, handler=handler)
    try:
        yield handler, int(controller.port)
    finally:
        controller.stop()


# ------------------------------------------------------------------ localstripe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any] | None, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"the server on port {port} exited ({proc.returncode})"
                ) from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}") from None
            time.sleep(0.05)


@contextlib.contextmanager
def localstripe(log: Path) -> Iterator[str]:
    """A fresh localstripe (a stateful Stripe server) while the block runs: its base."""
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(PYTHON.parent / "localstripe"), "--port", str(port), "--from-scratch"],
            stdout=out,
            stderr=out,
        )
        try:
            wait_for_port(port, server)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(10)


# ------------------------------------------------------------------ figures


def read_results(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))
