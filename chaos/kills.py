"""Kill makegood with SIGKILL at seeded random points, restart it until it finishes, and
count what came out: nothing may be lost, nothing doubled.

Targets, each against real PostgreSQL and a database copied afresh for every round:

- execute: `makegood campaigns execute` (automatic credits, small chunks);
- send:    `makegood send --until-empty` to a real SMTP sink;
- worker:  `makegood worker` to the same sink, stopped with SIGTERM once the outbox is empty;
- serve:   `makegood serve` while concurrent clients confirm claim links taken from the
           emails the sink received (GET the page, POST its form with the CSRF field);
- billing: `makegood billing push --sink stripe` against localstripe.

Each target's undisturbed run is timed first (the fastest of three); in every round the
process is killed after a delay drawn uniformly from that span, then started again until
it exits 0. A kill drawn after the command had finished lands nowhere; rounds go on
until --rounds kills have landed (at most twice as many rounds).

Counted afterwards, from the database and from outside: ledger entries and messages per
offer; messages per recipient at the sink (duplicates with the same Message-ID counted
apart: SMTP itself cannot tell a reply lost after the data was taken); invoice items per
credit at localstripe; claims the clients saw succeed against the ledger.

    .venv/bin/python chaos/kills.py                  # 50 kills per target
    .venv/bin/python chaos/kills.py --quick          # 3 each, smaller data (CI)
    .venv/bin/python chaos/kills.py --targets send,serve --rounds 10 --seed 7

Figures go to chaos/results/kills.json (kills.quick.json with --quick; a run of some
targets replaces only theirs). The script exits 1 if anything was lost, or doubled other
than by an SMTP reply lost after the data was taken, or a round did not complete.
"""

# ruff: noqa: S311

from __future__ import annotations

import argparse
import email
import email.policy
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import stripe

from makegood.adapters import mailbox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    CSRF,
    DELIVERY,
    LATER,
    LINK,
    PENDING,
    Server,
    Sink,
    Tally,
    command,
    company,
    finish,
    free_port,
    kill,
    last_line,
    localstripe,
    makegood,
    makegood_env,
    per_offer,
    print_table,
    query,
    read_results,
    run_until_done,
    scalar,
    smtp_sink,
    start,
    wait_for_port,
    worker_until_empty,
    write_results,
)

TARGETS = ("execute", "send", "worker", "serve", "billing")
# Offers per round: enough that a kill lands mid-work, few enough for a round of seconds.
SIZES = {"execute": 4000, "send": 600, "worker": 600, "serve": 300, "billing": 120}
QUICK_SIZES = {"execute": 1500, "send": 200, "worker": 200, "serve": 100, "billing": 40}
CLAIMERS = 8  # concurrent claim clients


class Chaos:
    def __init__(self, args: argparse.Namespace, work: Path, sink: Sink, smtp_port: int) -> None:
        self.args, self.work, self.sink = args, work, sink
        self.smtp = f"smtp://127.0.0.1:{smtp_port}"
        self.sizes = QUICK_SIZES if args.quick else SIZES
        self.server = Server()
        self.prefix = f"makegood_chaos_{os.getpid()}"
        self.rng = random.Random(args.seed)
        self.stripe_base = ""

    # ----------------------------------------------------------- databases

    def template(
        self, name: str, mode: str, executed: bool, billing_ids: tuple[str, ...] = ()
    ) -> int:
        url = self.server.create(f"{self.prefix}_{name}")
        env = makegood_env(url)
        campaign = company(env, self.work / name, self.sizes[name], mode, billing_ids)
        if executed:
            makegood(env, "campaigns", "execute", str(campaign), "--chunk-size", "500")
        return campaign

    def copy(self, name: str, n: int | str) -> tuple[str, str]:
        db = f"{self.prefix}_{name}_{n}"
        return db, self.server.create(db, template=f"{self.prefix}_{name}")

    def env(self, url: str, **extra: object) -> dict[str, str]:
        return makegood_env(url, LATER, smtp_url=self.smtp, **DELIVERY, **extra)

    # ------------------------------------------------------------ targets

    def execute(self, url: str, campaign: int, delays: list[float]) -> dict[str, Any]:
        argv = command("campaigns", "execute", str(campaign), "--chunk-size", "100")
        tally, _ = run_until_done(argv, makegood_env(url), delays)
        offers = per_offer(url, campaign)
        done = scalar(url, "SELECT status FROM campaigns WHERE id = %s", campaign) == "done"
        credits_lost = sum(1 for _, credits, _ in offers if credits == 0)
        credits_doubled = sum(credits - 1 for _, credits, _ in offers if credits > 1)
        messages_lost = sum(1 for *_, m in offers if m == 0)
        messages_doubled = sum(m - 1 for *_, m in offers if m > 1)
        return {
            "tally": tally,
            "lost": credits_lost + messages_lost,  # a credit, or its queued letter
            "duplicated": credits_doubled + messages_doubled,
            "credits_lost": credits_lost,
            "credits_duplicated": credits_doubled,
            "messages_lost": messages_lost,
            "messages_duplicated": messages_doubled,
            "completed": done and all(c == 1 and m == 1 for _, c, m in offers),
        }

    def _outbox(self, url: str) -> tuple[set[str], int]:
        total = scalar(url, "SELECT count(*) FROM messages")
        return {f"c{i:06d}@example.com" for i in range(total)}, scalar(url, PENDING)

    def send(self, url: str, campaign: int, delays: list[float]) -> dict[str, Any]:
        self.sink.reset()
        tally, _ = run_until_done(command("send", "--until-empty"), self.env(url), delays)
        expected, pending = self._outbox(url)
        counted = self.sink.tally(expected)
        return {"tally": tally, **counted, "completed": pending == 0 and counted["lost"] == 0}

    def worker(self, url: str, campaign: int, delays: list[float]) -> dict[str, Any]:
        self.sink.reset()
        env, tally = self.env(url), Tally()
        for delay in delays:
            proc = start(command("worker"), env)
            tally.runs += 1
            time.sleep(delay)
            tally.kills += kill(proc)
        began = time.monotonic()
        code, out, err = worker_until_empty(env, url, self.work / "worker.log")
        tally.runs, tally.seconds = tally.runs + 1, time.monotonic() - began
        if code != 0:
            tally.errors.append(f"exit {code}: {last_line(err) or last_line(out)}")
        expected, pending = self._outbox(url)
        counted = self.sink.tally(expected)
        return {"tally": tally, **counted, "completed": pending == 0 and counted["lost"] == 0}

    def serve(self, url: str, campaign: int, delays: list[float]) -> dict[str, Any]:
        links = list(self.links)
        random.Random(self.rng.random()).shuffle(links)
        env = makegood_env(url, LATER, web__claim_rate_per_minute=0)
        port = free_port()
        argv = command("serve", "--port", str(port))
        tally = Tally(runs=1)
        box = {"proc": start(argv, env)}
        wait_for_port(port, box["proc"])
        outcomes: dict[str, str] = {}
        seen_ok: set[str] = set()
        deadline = time.monotonic() + 180

        def claim(link: tuple[str, str]) -> None:
            recipient, path = link
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                while time.monotonic() < deadline:
                    try:
                        page = client.get(path)
                        if page.status_code == 200 and not CSRF.search(page.text):
                            outcomes[recipient] = "already"
                            return
                        if page.status_code == 200:
                            token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
                            done = client.post(path, data={"csrf": token})
                            if done.status_code == 303:
                                seen_ok.add(recipient)
                                outcomes[recipient] = "claimed"
                                return
                            if done.status_code == 200:
                                outcomes[recipient] = "already"
                                return
                            if done.status_code < 500:
                                outcomes[recipient] = f"refused {done.status_code}"
                                return
                        elif page.status_code < 500:
                            outcomes[recipient] = f"refused {page.status_code}"
                            return
                    except httpx.TransportError:
                        pass
                    time.sleep(0.05)
                outcomes[recipient] = "gave up"

        def killer() -> None:
            for delay in delays:
                time.sleep(delay)
                if kill(box["proc"]):
                    tally.kills += 1
                box["proc"] = start(argv, env)
                tally.runs += 1

        chaos = threading.Thread(target=killer)
        began = time.monotonic()
        chaos.start()
        with ThreadPoolExecutor(CLAIMERS) as pool:
            list(pool.map(claim, links))
        tally.seconds = time.monotonic() - began  # the span the kills are spread over
        chaos.join()
        box["proc"].send_signal(signal.SIGTERM)
        code, out, err = finish(box["proc"], 30)
        if code not in (0, -signal.SIGTERM):  # uvicorn shuts down, then re-raises the signal
            tally.errors.append(f"exit {code}: {last_line(err) or last_line(out)}")
        rows = query(
            url,
            "SELECT lower(c.email), (SELECT count(*) FROM ledger_entries l"
            "  WHERE l.offer_id = o.id AND l.kind = 'claim')"
            " FROM offers o JOIN customers c ON c.customer_id = o.customer_id"
            " WHERE o.campaign_id = %s",
            campaign,
        )
        credits = {email_: n for email_, n in rows}
        answered = {r for r, o in outcomes.items() if o in ("claimed", "already")}
        return {
            "tally": tally,
            "claims": len(links),
            "seen_claimed": len(seen_ok),
            "answer_lost": len(answered - seen_ok),
            "lost": sum(1 for r in answered if credits.get(r, 0) == 0),
            "duplicated": sum(n - 1 for n in credits.values() if n > 1),
            "unasked": sum(1 for r, n in credits.items() if n and r not in outcomes),
            "refused": dict(
                Counter(o for o in outcomes.values() if o not in ("claimed", "already"))
            ),
            "completed": len(answered) == len(links),
        }

    def billing(self, url: str, campaign: int, delays: list[float]) -> dict[str, Any]:
        env = makegood_env(
            url,
            LATER,
            billing__stripe__api_key="sk_test_makegood",
            billing__stripe__api_base=self.stripe_base,
        )
        tally, _ = run_until_done(command("billing", "push", "--sink", "stripe"), env, delays)
        items = self._stripe_items()
        entries = [str(i) for (i,) in query(url, "SELECT id FROM ledger_entries")]
        held = Counter(i["metadata"].get("makegood_credit_id", "") for i in items)
        delivered = scalar(url, "SELECT count(*) FROM billing_deliveries WHERE state = 'delivered'")
        api = stripe.StripeClient("sk_test_makegood", base_addresses={"api": self.stripe_base})
        for item in items:  # the next round's entries have the same ids
            api.v1.invoice_items.delete(item["id"])
        return {
            "tally": tally,
            "entries": len(entries),
            "lost": sum(1 for e in entries if held[e] == 0),
            "duplicated": sum(held[e] - 1 for e in entries if held[e] > 1),
            "strangers": sum(n for c, n in held.items() if c not in set(entries)),
            "completed": delivered == len(entries),
        }

    def _stripe_items(self) -> list[dict[str, Any]]:
        api = stripe.StripeClient("sk_test_makegood", base_addresses={"api": self.stripe_base})
        listed = api.v1.invoice_items.list(params={"limit": 100})
        return [item.to_dict() for item in listed.auto_paging_iter()]

    # ----------------------------------------------------------- setups

    def prepare(self, name: str) -> int:
        if name == "execute":
            return self.template(name, "automatic", executed=False)
        if name in ("send", "worker"):
            return self.template(name, "automatic", executed=True)
        if name == "serve":
            campaign = self.template(name, "claim", executed=True)
            self.links = self._claim_links()
            return campaign
        api = stripe.StripeClient("sk_test_makegood", base_addresses={"api": self.stripe_base})
        ids = [
            api.v1.customers.create(params={"email": f"c{i:06d}@example.com"}).id
            for i in range(self.sizes[name])
        ]
        return self.template(name, "automatic", executed=True, billing_ids=tuple(ids))

    def _claim_links(self) -> list[tuple[str, str]]:
        """Send the claim campaign once and read each link from the email received."""
        directory = self.work / "claim-mail"
        with smtp_sink(directory, keep=True) as (_, port):
            url = self.server.url(f"{self.prefix}_serve")
            makegood(makegood_env(url, LATER, smtp_url=f"smtp://127.0.0.1:{port}"), "send")
            found = []
            for item in mailbox.read_index(directory):
                raw = (directory / item["file"]).read_bytes()
                parsed = email.message_from_bytes(raw, policy=email.policy.default)
                body = parsed.get_body(preferencelist=("plain",))
                match = LINK.search(body.get_content()) if body is not None else None
                if match:
                    found.append((item["rcpt_tos"][0].lower(), match.group(1)))
        if len(found) != self.sizes["serve"]:
            raise RuntimeError(f"{len(found)} claim links for {self.sizes['serve']} offers")
        return found

    def run(self, name: str) -> dict[str, Any]:
        campaign = self.prepare(name)
        victim = getattr(self, name)
        spans = []
        for n in range(3):  # undisturbed: the span the kills are spread over
            db, url = self.copy(name, f"timing{n}")
            spans.append(victim(url, campaign, [])["tally"].seconds)
            self.server.drop(db)
        # The fastest of the three: a span timed while the machine was busy would put
        # most kills after the command had finished. A round the kill missed is itself an
        # undisturbed run, and shortens the span when it was quicker.
        expected = min(spans)
        total, rounds = Tally(), []
        # A kill drawn after the command had finished lands nowhere: such rounds are run
        # and counted too, and more are run until --rounds kills have landed.
        while total.kills < self.args.rounds and len(rounds) < 2 * self.args.rounds:
            n = len(rounds)
            delay = round(self.rng.uniform(0.0, expected), 3)
            db, url = self.copy(name, n)
            began = time.monotonic()
            result = victim(url, campaign, [delay])
            result["seconds"] = round(time.monotonic() - began, 2)
            self.server.drop(db)
            tally = result.pop("tally")
            total.add(tally)
            if not tally.kills and tally.seconds > 0:
                expected = min(expected, tally.seconds)
            rounds.append({"round": n, "kill_after": delay, "killed": tally.kills, **result})
            doubled = result["duplicated"] - result.get("same_message_id", 0)
            mark = "LOST/DOUBLED" if result["lost"] or doubled else "ok"
            if result.get("same_message_id"):
                mark += f" ({result['same_message_id']} sent again, same Message-ID)"
            landed = "kill" if tally.kills else "done before the kill"
            print(f"  {name} round {n}: {landed} at {delay:.2f}s  {mark}", flush=True)
        return {
            "target": name,
            "size": self.sizes[name],
            "expected_seconds": round(expected, 2),
            "rounds": len(rounds),
            "runs": total.runs,
            "kills": total.kills,
            "lost": sum(r["lost"] for r in rounds),
            "duplicated": sum(r["duplicated"] for r in rounds),
            "same_message_id": sum(r.get("same_message_id", 0) for r in rounds),
            "completed": sum(1 for r in rounds if r["completed"]),
            "errors": total.errors,
            "per_round": rounds,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--rounds", type=int, default=None, help="kills that land, per target (default 50)"
    )
    parser.add_argument("--quick", action="store_true", help="3 rounds each, smaller data")
    parser.add_argument("--targets", default=",".join(TARGETS))
    args = parser.parse_args()
    args.rounds = args.rounds or (3 if args.quick else 50)
    chosen = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(chosen) - set(TARGETS)
    if unknown:
        parser.error(f"--targets: unknown {sorted(unknown)}; choose from {TARGETS}")
    work = Path(tempfile.mkdtemp(prefix="makegood-chaos-"))
    figures: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        with smtp_sink(work / "mail") as (sink, port):
            chaos = Chaos(args, work, sink, port)
            try:
                with localstripe(work / "localstripe.log") as base:
                    chaos.stripe_base = base
                    for name in chosen:
                        print(f"{name}: preparing", flush=True)
                        figures.append(chaos.run(name))
            finally:
                chaos.server.drop_all()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    columns = ("target", "rounds", "runs", "kills", "lost", "duplicated", "same_message_id")
    print_table(figures, (*columns, "completed"))
    for f in figures:
        for error in f["errors"]:
            print(f"  {f['target']}: {error}")
    for f in figures:
        f.update(seed=args.seed, run_seconds=round(time.monotonic() - started, 1))
    # A run of some targets replaces their figures and keeps the others'; --quick (CI)
    # writes a file of its own.
    name = "kills.quick" if args.quick else "kills"
    kept = [t for t in read_results(name).get("targets", []) if t["target"] not in chosen]
    merged = sorted([*kept, *figures], key=lambda t: TARGETS.index(t["target"]))
    path = write_results(name, {"quick": args.quick, "targets": merged})
    print(f"figures: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    bad = any(
        f["lost"] or f["duplicated"] > f["same_message_id"] or f["completed"] < f["rounds"]
        for f in figures
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
