"""Long load: the claim page and the API at a bounded rate over loopback for minutes
each, with latency, errors and the server's memory watched all along.

    .venv/bin/python chaos/load.py                  # 10 minutes each: claims 50/s, API 30/s
    .venv/bin/python chaos/load.py --minutes 1 --rate 50 --api-rate 30
    .venv/bin/python chaos/load.py --quick          # 1 minute each at 20 requests/s, for CI

Setup: a PostgreSQL database of its own (``makegood_load_<pid>``, dropped at the end)
with claim offers made by makegood's plan, approve and execute (bench/claim_bench.py's
setup), a viewer and an operator key from `makegood keys create`, and per phase a fresh
`makegood serve` (claim rate limit off, its clock an hour after the campaign).

Load, open loop: request i is sent i / rate seconds after the start whether or not
earlier ones were answered; its latency runs from then to its answer. Claims: fresh
links opened (200) and confirmed with the page's CSRF field (303), the page after the
redirect, claimed links opened and confirmed again (200), unknown links (404). API:
GET /api/incidents, /api/incidents/{id}, /api/reports/{id}, /api/customers/{id} (and
an unknown customer, 404), POST /api/incidents (201).

Every 10 s: p50/p99 of the requests due in that window, errors (5xx, transport errors,
any other status than the expected one) and the server's VmRSS; per phase, CPU per
request of the server and of this client, and the database checked afterwards. A phase
holds with no errors and RSS growth after the warm-up (2 minutes, or a fifth of a
shorter phase), (last RSS - RSS at its end) / RSS at its end, at most 5%. Figures go
to chaos/results/load.json, plots to docs/images/load-claims.svg and load-api.svg.
"""

# ruff: noqa: S311, S603, E402

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from html import escape
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench")]

from claim_bench import SECRET, Server, claimable_offers, tokens_from_outbox
from makegood.web.claim import csrf_for
from send_bench import machine_cpu, proc_cpu

ADMIN = os.environ.get("MAKEGOOD_LOAD_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = ROOT / "chaos" / "results" / "load.json"
IMAGES = ROOT / "docs" / "images"
WINDOW = 10.0  # seconds per sample
MAX_GROWTH = 0.05
TIMEOUT = 10.0
CONNECTIONS = 64
FRESH_SHARE = 0.35  # fresh links used per claim-phase request, with room to spare
Figures = dict[str, Any]
Sample = tuple[float, int]  # seconds since the start, the server's RSS in kB
Line = tuple[str, list[tuple[float, float]], str]  # a plotted series: name, points, colour


@dataclass
class Shot:
    """One request, the status it should get, and what its answer teaches (a complaint
    about the answer, or "")."""

    kind: str
    method: str
    path: str
    expect: int
    headers: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    then: Callable[[httpx.Response], str] = lambda _: ""


class Mix:
    """The next request, of a kind drawn by weight."""

    weights: ClassVar[dict[str, int]]

    def __init__(self, seed: int) -> None:
        self.rng, self.substituted = random.Random(seed), 0

    def __call__(self) -> Shot:
        return self.make(self.rng.choices(list(self.weights), list(self.weights.values()))[0])

    def make(self, kind: str) -> Shot:
        raise NotImplementedError


class ClaimMix(Mix):
    """Customers opening fresh links and confirming them, following the redirect,
    coming back to links already claimed, and links that were never issued. A kind with
    nothing to send yet (no link claimed so far) gives way, counted in ``substituted``."""

    weights: ClassVar = {"open": 30, "confirm": 30, "follow": 15, "reopen": 10, "again": 10}
    weights["unknown"] = 5

    def __init__(self, tokens: list[str], seed: int) -> None:
        super().__init__(seed)
        self.fresh, self.opened, self.redirected = deque(tokens), deque[str](), deque[str]()
        self.claimed: list[str] = []

    def make(self, drawn: str) -> Shot:
        kind = drawn
        if kind in ("follow", "reopen", "again") and not self.claimed:
            kind = "confirm" if kind == "again" else "open"
        if kind == "follow" and not self.redirected:
            kind = "reopen"
        if kind == "open" and not self.fresh:
            kind = "reopen" if self.claimed else "unknown"
        if kind == "confirm" and not (self.opened or self.fresh):
            kind = "again" if self.claimed else "unknown"
        self.substituted += kind != drawn
        if kind == "open":
            token = self.fresh.popleft()
            return Shot(kind, "GET", f"/claim/{token}", 200, then=partial(self._opened, token))
        if kind == "confirm":
            token = (self.opened or self.fresh).popleft()
            csrf = {"csrf": csrf_for(SECRET, token)}
            return Shot(
                kind, "POST", f"/claim/{token}", 303, data=csrf, then=partial(self._done, token)
            )
        if kind == "follow":
            return Shot(kind, "GET", f"/claim/{self.redirected.popleft()}?claimed=1", 200)
        if kind == "reopen":
            return Shot(kind, "GET", f"/claim/{self.rng.choice(self.claimed)}", 200)
        if kind == "again":
            token = self.rng.choice(self.claimed)
            csrf = {"csrf": csrf_for(SECRET, token)}
            return Shot(kind, "POST", f"/claim/{token}", 200, data=csrf)
        return Shot(kind, "GET", f"/claim/{self.rng.getrandbits(256):064x}", 404)

    def _opened(self, token: str, answer: httpx.Response) -> str:
        self.opened.append(token)
        return "" if 'name="csrf"' in answer.text else "open: the page has no button"

    def _done(self, token: str, answer: httpx.Response) -> str:
        self.claimed.append(token)
        self.redirected.append(token)
        where = answer.headers.get("location", "")
        return "" if where == f"/claim/{token}?claimed=1" else f"confirm: sent to {where!r}"


class ApiMix(Mix):
    """An operator's tools and a support desk: incident lists and pages, the incident's
    report, customers' records (and an unknown one), and incidents declared."""

    # A support desk looks customers up most; the report (some twenty aggregates over
    # the incident's offers, messages and ledger) is opened now and then.
    weights: ClassVar = {"list": 25, "incident": 15, "report": 5, "customer": 40}
    weights.update(declare=10, unknown=5)

    def __init__(self, keys: dict[str, str], incident: int, customers: int, seed: int) -> None:
        super().__init__(seed)
        self.viewer = {"Authorization": f"Bearer {keys['viewer']}"}
        self.operator = {"Authorization": f"Bearer {keys['operator']}"}
        self.incident, self.customers, self.incidents = incident, customers, [incident]
        self.declared = 0

    def make(self, kind: str) -> Shot:
        if kind == "declare":
            self.declared += 1
            body = {"services": ["streaming"], "title": f"load {self.declared}"}
            body.update(start="2026-03-12T09:00:00Z", end="2026-03-12T09:30:00Z")
            body.update(summary="Streaming stalled for half an hour.")
            return Shot(kind, "POST", "/api/incidents", 201, self.operator, None, body, self._new)
        if kind == "list":
            path = "/api/incidents?limit=20"
        elif kind == "incident":
            path = f"/api/incidents/{self.rng.choice(self.incidents)}"
        elif kind == "report":
            path = f"/api/reports/{self.incident}"
        elif kind == "customer":
            path = f"/api/customers/c{self.rng.randint(1, self.customers):09d}"
        else:
            return Shot(kind, "GET", "/api/customers/nobody-here", 404, self.viewer)
        return Shot(kind, "GET", path, 200, self.viewer)

    def _new(self, answer: httpx.Response) -> str:
        self.incidents.append(int(answer.json()["id"]))
        return ""


class Answer(NamedTuple):
    due: float  # seconds after the phase began
    ms: float  # from when it was due to when its answer was read
    lag_ms: float  # how late the client sent it
    kind: str
    status: int | None
    error: str


def rss_kb(server: Server) -> int:
    """VmRSS of the server process and its workers, in kB."""
    total = 0
    for pid in server.pids():
        with contextlib.suppress(OSError):
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            total += next((int(x.split()[1]) for x in lines if x.startswith("VmRSS:")), 0)
    return total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 2) if ordered else 0.0


def mb(kb: int) -> float:
    return round(kb / 1024, 1)


def window(answers: list[Answer], k: int) -> list[Answer]:
    return [a for a in answers if (k - 1) * WINDOW <= a.due < k * WINDOW]


async def drive(
    server: Server, mix: Mix, rate: float, seconds: float
) -> tuple[list[Answer], list[Sample]]:
    """Send ``mix``'s requests on schedule; the answers and the RSS samples (s, kB)."""
    loop = asyncio.get_running_loop()
    answers: list[Answer] = []
    samples: list[Sample] = [(0.0, rss_kb(server))]
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=server.base, timeout=TIMEOUT, limits=limits) as client:
        start = loop.time()

        async def fire(shot: Shot, due: float) -> None:
            sent, status, error = loop.time(), None, ""
            try:
                answer = await client.request(
                    shot.method, shot.path, headers=shot.headers, data=shot.data, json=shot.body
                )
                status = answer.status_code
                error = shot.then(answer) if status == shot.expect else ""
                if status != shot.expect:
                    error = f"{shot.kind}: {status}, not {shot.expect}: {answer.text[:200]!r}"
            except httpx.HTTPError as exc:
                error = f"{shot.kind}: {type(exc).__name__} {exc}"
            ms, lag = (loop.time() - due) * 1000, (sent - due) * 1000
            answers.append(Answer(due - start, ms, lag, shot.kind, status, error))

        async def sample() -> None:
            for k in range(1, int(seconds // WINDOW) + 1):
                await asyncio.sleep(max(0.0, start + k * WINDOW - loop.time()))
                samples.append((k * WINDOW, rss_kb(server)))
                inside = window(answers, k)
                ms, errors = [a.ms for a in inside], sum(bool(a.error) for a in inside)
                print(
                    f"  {k * WINDOW:5.0f} s {len(ms):6d} answered  p50 {pct(ms, 0.5):7.1f} ms  "
                    f"p99 {pct(ms, 0.99):7.1f} ms  errors {errors}  RSS {mb(samples[-1][1])} MB",
                    flush=True,
                )

        sampler, flying = asyncio.create_task(sample()), set[asyncio.Task[None]]()
        for i in range(round(rate * seconds)):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            task = asyncio.create_task(fire(mix(), due))
            flying.add(task)
            task.add_done_callback(flying.discard)
        await sampler
        await asyncio.gather(*flying)
    return answers, samples


def figures(answers: list[Answer], samples: list[Sample], warmup: float) -> Figures:
    """Per window and in all: latency, errors, RSS and its growth after the warm-up."""
    windows = []
    for k, (at, kb) in enumerate(samples[1:], start=1):
        inside = window(answers, k)
        ms, errors = [a.ms for a in inside], sum(bool(a.error) for a in inside)
        windows.append({"t_s": at, "requests": len(inside), "errors": errors})
        windows[-1].update(p50_ms=pct(ms, 0.5), p99_ms=pct(ms, 0.99), rss_mb=mb(kb))
    warm = next(kb for at, kb in samples if at >= warmup)
    growth = (samples[-1][1] - warm) / warm
    wrong = [a for a in answers if a.error]
    kinds: defaultdict[str, list[float]] = defaultdict(list)
    for a in answers:
        kinds[a.kind].append(a.ms)
    by_kind = {
        k: {"n": len(v), "p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99)} for k, v in kinds.items()
    }
    ms = [a.ms for a in answers]
    result: Figures = {"requests": len(answers), "p50_ms": pct(ms, 0.5), "p99_ms": pct(ms, 0.99)}
    result.update(max_ms=pct(ms, 1), by_kind=by_kind)
    result["statuses"] = dict(Counter(str(a.status) for a in answers))
    result["client_lag_p99_ms"] = pct([a.lag_ms for a in answers], 0.99)
    result.update(errors=len(wrong), errors_5xx=sum((a.status or 0) >= 500 for a in wrong))
    result["errors_transport"] = sum(a.status is None for a in wrong)
    result["error_samples"] = [a.error for a in wrong[:10]]
    result.update(rss_start_mb=mb(samples[0][1]), rss_after_warmup_mb=mb(warm))
    result.update(rss_last_mb=mb(samples[-1][1]), rss_growth_pct=round(growth * 100, 2))
    return {**result, "held": not wrong and growth <= MAX_GROWTH, "windows": windows}


def phase(
    name: str, url: str, mix: Mix, rate: float, args: argparse.Namespace, logs: Path
) -> Figures:
    """A fresh server, ``mix`` sent at ``rate`` for ``--minutes``, and the figures."""
    seconds = args.minutes * 60
    warmup = min(120.0, seconds / 5)
    print(f"{name}: {rate:g} requests/s for {seconds:g} s (warm-up {warmup:g} s)")
    server = Server(url, args.workers, logs / f"serve-{name}.log")
    load, cpu, own, busy = (
        os.getloadavg()[0],
        server_cpu(server),
        time.process_time(),
        machine_cpu(),
    )
    try:
        answers, samples = asyncio.run(drive(server, mix, rate, seconds))
        cpu, own = server_cpu(server) - cpu, time.process_time() - own
        busy = (machine_cpu() - busy - cpu - own) / seconds
    finally:
        server.stop()
    result: Figures = {"phase": name, "rate_per_s": rate, "seconds": seconds}
    result["warmup_s"] = warmup
    result.update(figures(answers, samples, warmup))
    per = 1000 / max(1, len(answers))
    result.update(server_cpu_ms_per_request=round(cpu * per, 2))
    result.update(client_cpu_ms_per_request=round(own * per, 2))
    result["other_busy_cores"] = round(busy, 2)  # the rest of the machine: PostgreSQL, others
    return {**result, "substituted": mix.substituted, "loadavg_1m_before": round(load, 2)}


def server_cpu(server: Server) -> float:
    """CPU seconds the server process and its workers have used."""
    return float(sum(proc_cpu(pid) for pid in server.pids()))


def sql(url: str, statement: str) -> tuple[Any, ...]:
    """One row of ``statement`` (autocommit: CREATE and DROP DATABASE run too)."""
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        cursor = conn.execute(statement.encode())
        return tuple(cursor.fetchone() or ()) if cursor.description else ()


def api_key(url: str, role: str) -> str:
    """A key made as an administrator makes one: `makegood keys create`."""
    env = {**os.environ, "MAKEGOOD_DATABASE_URL": url, "MAKEGOOD_SECRET_KEY": SECRET}
    argv = [sys.executable, "-m", "makegood", "--json", "keys", "create", "--role", role]
    argv += ["--owner", f"load-{role}"]
    out = subprocess.run(argv, env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"makegood keys create failed: {out.stdout}{out.stderr}")
    return str(json.loads(out.stdout.strip().splitlines()[-1])["key"])


def claims_check(url: str, confirmed: int) -> dict[str, Any]:
    """Every 303 is one claimed offer with one credit and one audit entry, and no more."""
    counts = sql(
        url,
        "SELECT (SELECT count(*) FROM offers WHERE status = 'claimed'), "
        "(SELECT count(*) FROM ledger_entries WHERE kind = 'claim'), "
        "(SELECT count(DISTINCT offer_id) FROM ledger_entries WHERE kind = 'claim'), "
        "(SELECT count(*) FROM audit_entries WHERE action = 'offer.claimed')",
    )
    names = ("claimed_offers", "credits", "credited_offers", "audits")
    check = {"confirmed": confirmed, **dict(zip(names, counts, strict=True))}
    return {**check, "ok": set(counts) == {confirmed}}


def ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round values from at or below ``lo`` to at or above ``hi``, about ``count`` steps."""
    raw = max(hi - lo, 1e-9) / count
    steps = (m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 2.5, 5, 10))
    step = min(steps, key=lambda s: (s < raw, s))
    first = math.floor(lo / step) * step
    return [first + i * step for i in range(math.ceil((hi - first) / step) + 1)]


def panel(
    top: int, height: int, label: str, lines: list[Line], span: float, warm: float
) -> list[str]:
    """One plot, 560 wide: the warm-up shaded, gridlines with their values, a line per
    series (name, points (x, y), colour) named at its end, times along the bottom."""
    left, width = 70, 560
    values = [y for _, points, _ in lines for _, y in points] or [0.0]
    ys = ticks(0 if "latency" in label else min(values) * 0.98, max(values) * 1.05 + 1e-9)

    def px(x: float) -> float:
        return round(left + width * x / span, 1)

    def py(y: float) -> float:
        return round(top + height * (1 - (y - ys[0]) / (ys[-1] - ys[0])), 1)

    box = f'x="{left}" y="{top}" height="{height}"'
    out = [f'<rect {box} width="{px(warm) - left:.1f}" class="warm"/>']
    out.append(f'<text x="{left + 4}" y="{top + 12}" class="note">warm-up</text>')
    out.append(f'<text x="{left - 44}" y="{top - 8}">{escape(label)}</text>')
    for y in ys:
        out.append(
            f'<line x1="{left}" x2="{left + width}" y1="{py(y)}" y2="{py(y)}" class="grid"/>'
        )
        out.append(f'<text x="{left - 6}" y="{py(y) + 4}" text-anchor="end">{y:g}</text>')
    for x in (x for x in ticks(0, span, 6) if x <= span):
        out.append(f'<text x="{px(x)}" y="{top + height + 16}" text-anchor="middle">{x:g}</text>')
    for name, points, colour in lines:
        line = " ".join(f"{px(x)},{py(y)}" for x, y in points)
        out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        end = py(points[-1][1]) + 4
        out.append(f'<text x="{left + width + 6}" y="{end}" fill="{colour}">{name}</text>')
    return [*out, f'<rect {box} width="{width}" class="frame"/>']


def plot(result: dict[str, Any], title: str) -> str:
    """Latency p50/p99 per window and the server's RSS over the phase: a standalone SVG."""
    windows, unit = result["windows"], 60.0 if result["seconds"] >= 180 else 1.0
    span, warm = result["seconds"] / unit, result["warmup_s"] / unit
    mid = [(w["t_s"] - WINDOW / 2) / unit for w in windows]
    p99 = [("p99", list(zip(mid, [w["p99_ms"] for w in windows], strict=True)), "#c0392b")]
    p50 = [("p50", list(zip(mid, [w["p50_ms"] for w in windows], strict=True)), "#2e86c1")]
    rss = [(0.0, result["rss_start_mb"]), *((w["t_s"] / unit, w["rss_mb"]) for w in windows)]
    summary = (
        f"{result['requests']:,} requests at {result['rate_per_s']:g}/s; p50 "
        f"{result['p50_ms']:g} ms, p99 {result['p99_ms']:g} ms; errors {result['errors']}; "
        f"RSS growth after the warm-up {result['rss_growth_pct']:+.1f}%"
    )
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="720" height="470" viewBox="0 0 720 470" '
        'role="img" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title><desc>{escape(summary)}</desc>",
        "<style>.grid{stroke:#ddd}.frame{fill:none;stroke:#888}.note{fill:#888}"
        ".warm{fill:#f1f1f1}text{fill:#333}</style>",
        '<rect width="720" height="470" fill="#fff"/>',
        f'<text x="20" y="22" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="20" y="40">{escape(summary)}</text>',
        *panel(70, 150, "latency per 10 s window (ms)", p99 + p50, span, warm),
        *panel(280, 130, "server RSS (MB)", [("RSS", rss, "#27ae60")], span, warm),
        f'<text x="350" y="450" text-anchor="middle">{"minutes" if unit == 60 else "seconds"} '
        "since the start</text>",
    ]
    for w in (w for w in windows if w["errors"]):
        x = 70 + 560 * (w["t_s"] - WINDOW / 2) / unit / span
        out.append(f'<circle cx="{x:.1f}" cy="226" r="3" fill="#c0392b"/>')
    return "\n".join([*out, "</svg>", ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="per phase")
    parser.add_argument("--rate", type=float, default=50.0, help="claim-page requests per second")
    parser.add_argument(
        "--api-rate",
        type=float,
        default=30.0,
        help="API requests per second: half of what one worker answers closed-loop here "
        "(about 60/s with the load generator on the same two cores; a report of 10,700 "
        "offers takes some 110 ms)",
    )
    parser.add_argument("--quick", action="store_true", help="1 minute each at 20/s, for CI")
    parser.add_argument("--workers", type=int, default=1, help="`makegood serve --workers`")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.rate, args.api_rate = 1.0, 20.0, 20.0
    seconds = args.minutes * 60
    if seconds < 2 * WINDOW:
        parser.error("--minutes: at least two windows of 10 s")

    name = f"makegood_load_{os.getpid()}"
    url = f"{ADMIN.rsplit('/', 1)[0].replace('postgresql:', 'postgresql+psycopg:')}/{name}"
    logs = Path(tempfile.mkdtemp(prefix="makegood_load_"))
    sql(ADMIN, f'CREATE DATABASE "{name}"')
    try:
        started = time.perf_counter()
        setup = claimable_offers(url, math.ceil(args.rate * seconds * FRESH_SHARE) + 200)
        tokens = tokens_from_outbox(url)
        keys = {role: api_key(url, role) for role in ("viewer", "operator")}
        (incident,) = sql(url, "SELECT min(id) FROM incidents")
        setup.update(tokens=len(tokens), setup_s=round(time.perf_counter() - started, 1))
        print(f"setup: {json.dumps(setup)}")

        claim_mix = ClaimMix(tokens, args.seed)
        claims = phase("claims", url, claim_mix, args.rate, args, logs)
        claims["fresh_links_left"] = len(claim_mix.fresh)
        claims["check"] = claims_check(url, len(claim_mix.claimed))

        api_mix = ApiMix(keys, incident, setup["customers"], args.seed)
        api = phase("api", url, api_mix, args.api_rate, args, logs)
        (declared,) = sql(url, "SELECT count(*) - 1 FROM incidents")
        api["check"] = {"declared": len(api_mix.incidents) - 1, "incidents_written": declared}
        api["check"]["ok"] = declared == len(api_mix.incidents) - 1
    finally:
        sql(ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for result in (claims, api):
        result["held"] = result["held"] and result["check"]["ok"]

    record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "minutes": args.minutes}
    record.update(rate_per_s=args.rate, api_rate_per_s=args.api_rate)
    record.update(workers=args.workers, window_s=WINDOW)
    record.update(max_growth_pct=MAX_GROWTH * 100, setup=setup, phases=[claims, api])
    record.update(held=claims["held"] and api["held"], cpus=os.cpu_count())
    record.update(python=platform.python_version())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    IMAGES.mkdir(parents=True, exist_ok=True)
    (IMAGES / "load-claims.svg").write_text(plot(claims, "The claim page under steady load"))
    (IMAGES / "load-api.svg").write_text(plot(api, "The API under steady load"))

    print("\nphase    requests   p50 ms   p99 ms errors  RSS after warm-up -> last  held")
    for r in (claims, api):
        print(
            f"{r['phase']:<8} {r['requests']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} "
            f"{r['errors']:>6} {r['rss_after_warmup_mb']:>9} -> {r['rss_last_mb']} MB "
            f"({r['rss_growth_pct']:+.1f}%)  {'yes' if r['held'] else 'NO'}"
        )
        for error in r["error_samples"]:
            print(f"    {error}")
    print(f"figures in {RESULTS.relative_to(ROOT)}, plots in docs/images/load-*.svg")
    if record["held"]:
        shutil.rmtree(logs, ignore_errors=True)
    else:
        print(f"server logs kept in {logs}")
    return 0 if record["held"] else 1


if __name__ == "__main__":
    sys.exit(main())
