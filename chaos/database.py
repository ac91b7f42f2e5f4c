"""The database goes away under makegood: PostgreSQL restarted, or its backends killed
with pg_terminate_backend, in the middle of `campaigns execute`, `send` and `worker`;
and on SQLite, the CLI and the server writing at once.

Each command must either ride it out or stop with a clear one-line error (never a
traceback) and then finish when run again, with nothing lost and nothing doubled:
counted as ledger entries and messages per offer in the database and messages per
recipient at a real SMTP sink. On SQLite, no user may ever see "database is locked",
neither in a CLI answer nor in an HTTP answer.

By default PostgreSQL is a throwaway server of the script's own (initdb in a temporary
directory, on a free port), so restarting it disturbs nothing else on the machine;
``--server main`` uses the one at 127.0.0.1:5432 and restarts it with
``pg_ctlcluster 15 main restart``.

    .venv/bin/python chaos/database.py                  # 3 rounds per scenario
    .venv/bin/python chaos/database.py --quick          # 1 round each (CI)
    .venv/bin/python chaos/database.py --server main --rounds 2 --seed 7

Figures go to chaos/results/database.json (database.quick.json with --quick); the script
exits 1 on any loss, double (but an SMTP reply lost after the data was taken, which the
same Message-ID marks), traceback or "database is locked".
"""

# ruff: noqa: S311, S603

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from makegood.core.tokens import hash_token

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    ADMIN_DSN,
    CSRF,
    DELIVERY,
    LATER,
    LINK,
    PENDING,
    POLICY,
    WINDOW,
    Server,
    Sink,
    classify,
    command,
    company,
    finish,
    free_port,
    last_line,
    makegood,
    makegood_env,
    per_offer,
    print_table,
    scalar,
    smtp_sink,
    start,
    wait_for_port,
    worker_until_empty,
    write_results,
)

SIZES = {"execute": 6000, "send": 800, "sqlite": 1000}
QUICK_SIZES = {"execute": 3000, "send": 300, "sqlite": 400}
LOCKED = "database is locked"


class Cluster:
    """The PostgreSQL server the scenarios run on, and how to restart it."""

    def __init__(self, mode: str, work: Path) -> None:
        self.mode, self.log = mode, work / "postgres.log"
        if mode == "main":
            self.dsn = ADMIN_DSN
            self.restart_argv = ["pg_ctlcluster", "15", "main", "restart"]
            return
        bindir = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        self.data = Path(tempfile.mkdtemp(prefix="makegood-chaos-pg-"))
        as_owner: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.data, "postgres", "postgres")
            self.log = self.data / "postgres.log"
            as_owner = ["runuser", "-u", "postgres", "--"]
        port = free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        ctl = [*as_owner, str(bindir / "pg_ctl"), "-D", str(self.data / "db"), "-l", str(self.log)]
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self.restart_argv = [*ctl, "-w", "-m", "fast", "-o", options, "restart"]
        self.stop_argv = [*ctl, "-m", "immediate", "stop"]
        initdb = [str(bindir / "initdb"), "-D", str(self.data / "db"), "-U", "postgres"]
        subprocess.run([*as_owner, *initdb, "-A", "trust", "--no-sync"], check=True, stdout=-3)
        subprocess.run([*ctl, "-w", "-o", options, "start"], check=True, stdout=-3)

    def restart(self) -> float:
        began = time.monotonic()
        subprocess.run(self.restart_argv, check=True, stdout=-3, stderr=-3, timeout=120)
        return time.monotonic() - began

    def close(self) -> None:
        if self.mode == "private":
            subprocess.run(self.stop_argv, stdout=-3, stderr=-3)
            shutil.rmtree(self.data, ignore_errors=True)


class Scenarios:
    def __init__(self, args: argparse.Namespace, cluster: Cluster, work: Path) -> None:
        self.args, self.cluster, self.work = args, cluster, work
        self.server = Server(cluster.dsn)
        self.sizes = QUICK_SIZES if args.quick else SIZES
        self.rng = random.Random(args.seed)
        self.prefix = f"makegood_chaos_{os.getpid()}"
        self.templates: dict[str, int] = {}
        self.spans: dict[str, float] = {}
        self.restarts: list[float] = []
        self.terminated = 0
        self.stderr: list[str] = []
        self.said: list[str] = []  # the last lines of every run that did not finish

    def template(self, kind: str) -> int:
        if kind not in self.templates:
            env = makegood_env(self.server.create(f"{self.prefix}_{kind}"))
            campaign = company(env, self.work / kind, self.sizes[kind], "automatic")
            if kind == "send":  # the outbox full, for send and worker
                makegood(env, "campaigns", "execute", str(campaign), "--chunk-size", "1000")
            self.templates[kind] = campaign
        return self.templates[kind]

    def disrupt(self, how: str, db: str, at: float) -> None:
        """Restart the server at ``at``; or terminate the database's backends at ``at``,
        and twice more, a quarter of a second apart."""
        time.sleep(at)
        if how == "restart":
            self.restarts.append(round(self.cluster.restart(), 2))
            return
        for _ in range(3):
            self.terminated += self.server.terminate(db)
            time.sleep(0.25)

    def command_for(self, kind: str, url: str, campaign: int, smtp: str) -> tuple[list[str], Any]:
        if kind == "execute":
            argv = command("campaigns", "execute", str(campaign), "--chunk-size", "100")
            return argv, makegood_env(url)
        argv = command(kind, *(["--until-empty"] if kind == "send" else []))
        return argv, makegood_env(url, LATER, smtp_url=smtp, **DELIVERY)

    def run(self, kind: str, argv: list[str], env: Any, url: str) -> tuple[str, float]:
        """One run to its end (a worker: until the outbox is empty, then SIGTERM)."""
        began = time.monotonic()
        if kind == "worker":
            code, out, err = worker_until_empty(env, url, self.work / "worker.log")
        else:
            code, out, err = finish(start(argv, env), 180)
        outcome = classify(code, out, err)
        if outcome != "finished":
            self.said.append(
                f"{kind}: {outcome}: " + " | ".join((err or out).strip().splitlines()[-6:])
            )
            self.stderr.append(err[-6000:])
        return outcome, time.monotonic() - began

    def victim(self, kind: str, how: str, n: int, sink: Sink, smtp: str) -> dict[str, Any]:
        """One round: copy the template, start the command, disrupt the database mid-work,
        then run it again until it exits 0; count."""
        campaign = self.template("execute" if kind == "execute" else "send")
        source = f"{self.prefix}_{'execute' if kind == 'execute' else 'send'}"
        if kind not in self.spans:  # timed once, undisturbed
            url = self.server.create(f"{self.prefix}_timing", template=source)
            sink.reset()
            _, self.spans[kind] = self.run(kind, *self.command_for(kind, url, campaign, smtp), url)
            self.server.drop(f"{self.prefix}_timing")
        db = f"{self.prefix}_{kind}_{how}_{n}"
        url = self.server.create(db, template=source)
        argv, env = self.command_for(kind, url, campaign, smtp)
        sink.reset()
        at = self.rng.uniform(0.3, 0.7) * self.spans[kind]
        disruption = threading.Thread(target=self.disrupt, args=(how, db, at))
        disruption.start()
        outcomes = [self.run(kind, argv, env, url)[0]]
        disruption.join()
        while outcomes[-1] != "finished" and len(outcomes) < 6:
            outcomes.append(self.run(kind, argv, env, url)[0])
        figures = self.count(kind, url, campaign, sink)
        self.server.drop(db)
        return {
            "runs": len(outcomes),
            "outcomes": outcomes,
            "disrupted_at": round(at, 2),
            **figures,
        }

    def count(self, kind: str, url: str, campaign: int, sink: Sink) -> dict[str, Any]:
        offers = per_offer(url, campaign)
        done = scalar(url, "SELECT status FROM campaigns WHERE id = %s", campaign) == "done"
        figures = {
            "lost": sum(1 for _, c, m in offers if c == 0 or m == 0),
            "duplicated": sum(max(c - 1, 0) + max(m - 1, 0) for _, c, m in offers),
            "same_message_id": 0,
            "completed": done,
        }
        if kind != "execute":
            mail = sink.tally({f"c{i:06d}@example.com" for i in range(len(offers))})
            figures["lost"] += mail["lost"]
            figures["duplicated"] += mail["duplicated"]
            figures["same_message_id"] = mail["same_message_id"]
            figures["completed"] = not scalar(url, PENDING) and not mail["lost"]
        return figures

    # --------------------------------------------------------------- SQLite

    def sqlite(self, n: int) -> dict[str, Any]:
        """The server confirms claims while the CLI declares incidents and voids offers
        in a loop, on one SQLite file; count "database is locked" anyone saw."""
        directory = self.work / f"sqlite-{n}"
        path = directory / "makegood.db"
        url = f"sqlite:///{path}"
        env = makegood_env(url)
        campaign = company(env, directory, self.sizes["sqlite"], "claim")
        makegood(env, "campaigns", "execute", str(campaign))
        mail = directory / "mail"
        with smtp_sink(mail, keep=True) as (_, port):
            makegood(makegood_env(url, LATER, smtp_url=f"smtp://127.0.0.1:{port}"), "send")
        found = (LINK.search(p.read_text()) for p in sorted(mail.glob("*.eml")))
        paths = [m.group(1) for m in found if m]
        self.rng.shuffle(paths)
        port = free_port()
        serve_env = makegood_env(url, LATER, web__claim_rate_per_minute=0)
        server = start(command("serve", "--port", str(port)), serve_env)
        wait_for_port(port, server)
        seen: list[str] = []
        confirmed: set[str] = set()
        stop = threading.Event()

        def claimer(chunk: list[str]) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                for link in chunk:
                    page = client.get(link)
                    csrf = CSRF.search(page.text)
                    done = client.post(link, data={"csrf": csrf.group(1) if csrf else ""})
                    for answer in (page, done):
                        if answer.status_code >= 500 or LOCKED in answer.text:
                            seen.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
                    if done.status_code == 303:
                        confirmed.add(link)
                    time.sleep(0.03)  # customers trickle in while the operator works

        ran: list[int] = []  # every CLI command's exit status
        policy = directory / "automatic.toml"
        policy.write_text(POLICY.format(mode="automatic", claim=""))

        def cli(*args: str) -> Any:
            done = subprocess.run(command(*args), env=env, capture_output=True, text=True)
            ran.append(done.returncode)
            said = done.stdout + done.stderr
            if LOCKED in said or "Traceback" in said or done.returncode not in (0, 1):
                seen.append(f"CLI {args[0]} {args[1]}: {last_line(done.stderr or done.stdout)}")
            return json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0 else None

        def cli_loop() -> int:
            """The operator's day, over and over: an incident declared, its impact found,
            a campaign planned, approved and executed, and an offer voided."""
            runs = 0
            while not stop.is_set() or runs < 2:
                runs += 1
                cli("credits", "void", str(runs), "--reason", "chaos")
                incident = cli(
                    *("incidents", "declare", "--service", "streaming", "--title", f"again {runs}"),
                    *("--start", WINDOW[0], "--end", WINDOW[1], "--summary", "Again."),
                )
                if incident is None or cli("impact", "run", str(incident["id"])) is None:
                    continue
                plan = cli("campaigns", "plan", str(incident["id"]), "--policy", str(policy))
                if plan and cli("campaigns", "approve", str(plan["id"]), "--by", "lead"):
                    cli("campaigns", "execute", str(plan["id"]), "--chunk-size", "50")
                    cli("send")
            return runs

        with smtp_sink(directory / "more-mail") as (_, smtp), ThreadPoolExecutor(5) as pool:
            env = makegood_env(url, LATER, smtp_url=f"smtp://127.0.0.1:{smtp}", **DELIVERY)
            writer = pool.submit(cli_loop)
            list(pool.map(claimer, [paths[i::4] for i in range(4)]))
            stop.set()
            cli_runs = writer.result()
        server.send_signal(signal.SIGTERM)
        finish(server, 30)
        with closing(sqlite3.connect(path)) as conn:
            credits = dict(conn.execute(SQLITE_CLAIMS, (campaign,)).fetchall())
        return {
            "claims": len(paths),
            "confirmed": len(confirmed),
            "cycles": cli_runs,
            "cli_commands": len(ran),
            "cli_refused": sum(1 for code in ran if code),  # e.g. voiding an offer twice
            "locked": sum(LOCKED in s for s in seen),
            "other_errors": sum(LOCKED not in s for s in seen),
            "lost": sum(
                1 for link in confirmed if not credits.get(hash_token(link.split("/")[-1]))
            ),
            "duplicated": sum(max(n - 1, 0) for n in credits.values()),
            "seen": seen[:5],
        }


SQLITE_CLAIMS = (
    "SELECT t.token_hash, (SELECT count(*) FROM ledger_entries l"
    " WHERE l.offer_id = o.id AND l.kind = 'claim')"
    " FROM claim_tokens t JOIN offers o ON o.id = t.offer_id WHERE o.campaign_id = ?"
)
SCENARIOS = (
    ("execute", "restart"),
    ("execute", "terminate"),
    ("send", "restart"),
    ("send", "terminate"),
    ("worker", "restart"),
    ("worker", "terminate"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rounds", type=int, default=None, help="per scenario (default 3)")
    parser.add_argument("--quick", action="store_true", help="1 round each, smaller data")
    parser.add_argument("--only", default="", help="e.g. send/terminate,sqlite")
    parser.add_argument("--server", choices=("private", "main"), default="private")
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    work = Path(tempfile.mkdtemp(prefix="makegood-chaos-"))
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    cluster = Cluster(args.server, work)
    try:
        scenarios = Scenarios(args, cluster, work)
        with smtp_sink(work / "mail") as (sink, port):
            try:
                for kind, how in SCENARIOS:
                    if args.only and f"{kind}/{how}" not in args.only.split(","):
                        continue
                    rounds = []
                    for n in range(args.rounds):
                        rounds.append(
                            scenarios.victim(kind, how, n, sink, f"smtp://127.0.0.1:{port}")
                        )
                        print(f"  {kind}/{how} round {n}: {rounds[-1]['outcomes']}", flush=True)
                    rows.append(summary(f"{kind} / {how}", rounds))
            finally:
                scenarios.server.drop_all()
        wanted = not args.only or "sqlite" in args.only.split(",")
        sqlite_rounds = [scenarios.sqlite(n) for n in range(args.rounds if wanted else 0)]
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    sqlite_row = {
        "scenario": "sqlite / cli + serve",
        "rounds": len(sqlite_rounds),
        "runs": sum(r["cli_commands"] for r in sqlite_rounds),
        "lost": sum(r["lost"] for r in sqlite_rounds),
        "duplicated": sum(r["duplicated"] for r in sqlite_rounds),
        "locked": sum(r["locked"] for r in sqlite_rounds),
        "tracebacks": sum(r["other_errors"] for r in sqlite_rounds),
        # every claim confirmed, but for offers the CLI voided first (one a cycle)
        "completed": sum(1 for r in sqlite_rounds if r["confirmed"] >= r["claims"] - r["cycles"]),
        "per_round": sqlite_rounds,
    }
    if sqlite_rounds:
        rows.append(sqlite_row)
    columns = ("scenario", "rounds", "runs", "rode_out", "clear_errors", "tracebacks")
    print_table(rows, (*columns, "lost", "duplicated", "same_message_id", "locked", "completed"))
    path = write_results(
        "database.quick" if args.quick else "database",
        {
            "seed": args.seed,
            "server": args.server,
            "quick": args.quick,
            "seconds": round(time.monotonic() - started, 1),
            "restart_seconds": scenarios.restarts,
            "backends_terminated": scenarios.terminated,
            "not_finished": scenarios.said,
            "stderr": scenarios.stderr,
            "scenarios": rows,
        },
    )
    print(f"figures: {path}")
    for line in scenarios.said:
        print(f"  {line}")
    bad = any(
        r["lost"]
        or r["duplicated"] > r.get("same_message_id", 0)
        or r["tracebacks"]
        or r.get("locked")
        or r["completed"] < r["rounds"]
        for r in rows
    )
    return 1 if bad else 0


def summary(name: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    outcomes = [o for r in rounds for o in r["outcomes"]]
    return {
        "scenario": name,
        "rounds": len(rounds),
        "runs": len(outcomes),
        # the disrupted run itself finished, without being run again
        "rode_out": sum(1 for r in rounds if r["outcomes"][0] == "finished"),
        "clear_errors": outcomes.count("clear error"),
        "tracebacks": sum(1 for o in outcomes if o not in ("finished", "clear error")),
        "lost": sum(r["lost"] for r in rounds),
        "duplicated": sum(r["duplicated"] for r in rounds),
        "same_message_id": sum(r["same_message_id"] for r in rounds),
        "completed": sum(1 for r in rounds if r["completed"]),
        "per_round": rounds,
    }


if __name__ == "__main__":
    sys.exit(main())
