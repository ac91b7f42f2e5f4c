"""Fuzzing makegood's inputs: a bad input gets a clear error naming its place, never a
crash, and nothing is written. Targets: the customers import and `sources add` (CSV and
Parquet), the policy parser, the settings (makegood.toml, MAKEGOOD_*), the HTTP API (the
Alertmanager hook, request bodies). Each is a hypothesis property run with a seed and a
budget of examples; every call is counted as an input tried, shrinking included.

    .venv/bin/python chaos/fuzz.py [--examples 2000 | --quick] [--seed N] [--target T ...]
                                   [--database sqlite|postgresql]

--quick is 100 examples per target (CI); postgresql makes a database of its own on the
server of MAKEGOOD_TEST_PG_URL. Figures go to chaos/results/fuzz.json, by database (per
target: inputs tried, how they ended, failures with their shrunk inputs, seconds); exit
status 1 if anything failed. The inputs are in fuzz_inputs.py.
"""

# The properties check with assert: they are hypothesis properties, not pytest tests.
# ruff: noqa: PT017

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, reporting, seed, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text

from makegood.adapters.duckdb_engine import DuckDBEngine
from makegood.core.errors import ConfigurationError, InvalidInputError
from makegood.customers.rules import COLUMNS, OPTIONAL
from makegood.customers.service import import_customers
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.policy.schema import parse_policy
from makegood.policy.seed import seed_policy_text
from makegood.sources.service import add_source

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_inputs as inputs  # beside this script, not in the package

NOW, MARK = inputs.NOW, inputs.MARK

RESULTS = Path(__file__).resolve().parent / "results" / "fuzz.json"
PG_ADMIN = os.environ.get(
    "MAKEGOOD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TOKEN = "am-token-fuzz-4e1d0c"  # noqa: S105 - made up for the fuzzed app
SECRET = "fuzz-secret-key-0123456789"  # noqa: S105 - likewise
# fmt: off
API_TABLES = ("incidents", "alert_links", "campaigns", "campaign_approvals", "offers",
              "claim_tokens", "ledger_entries", "customers", "impacts", "audit_entries")
TARGETS = ["customers-csv", "customers-parquet", "sources-csv", "sources-parquet", "policy",
           "settings", "api"]
# fmt: on
Property = Callable[[Any], str]


def snapshot(engine: Engine, tables: tuple[str, ...]) -> str:
    """A checksum of every row of these tables: equal before and after means untouched."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for name in tables:
            rows = sorted(map(repr, conn.execute(text(f"SELECT * FROM {name}")).all()))
            digest.update(f"{name}:{len(rows)}:{rows}".encode())
    return digest.hexdigest()


def names_place(exc: InvalidInputError, path: Path, problem: str) -> None:
    """The message starts with the file; each problem listed matches ``problem``."""
    assert str(exc).startswith(str(path)), f"the message does not name the file: {exc}"
    for line in exc.problems:
        if not line.startswith("... and "):
            assert re.match(problem, line), f"a problem that names no place: {line!r}"


@dataclass
class Files:
    """Numbered files in one directory, so every example gets a name of its own."""

    directory: Path
    n: int = 0

    def write(self, suffix: str, data: bytes) -> Path:
        self.n += 1
        path = self.directory / f"in put'{self.n}{suffix}"  # a space and a quote, too
        path.write_bytes(data)
        return path


def customers_target(engine: Engine, files: Files, fmt: str) -> tuple[Property, Any]:
    tables = ("customers", "audit_entries", "customer_generation")
    cell = r"{}, row \d+( \(line \d+\))?(, column (" + "|".join(COLUMNS) + r"))?: \S"

    def prop(case: tuple[bytes, list[dict[str, str]], bool]) -> str:
        data, rows, ok = case
        path = files.write(f".{fmt}", data)
        before = snapshot(engine, tables)
        try:
            with UnitOfWork(engine) as uow:
                result = import_customers(uow.session, path, NOW)
                uow.commit()
        except InvalidInputError as exc:
            names_place(exc, path, cell.format(re.escape(path.name)))
            assert snapshot(engine, tables) == before, "a refused import changed the database"
            assert not ok, f"a valid file was refused: {exc}"
            return "refused"
        assert not ok or result.imported + result.updated == len(rows), result
        return "imported"

    maker = inputs.csv_file if fmt == "csv" else inputs.parquet_file
    return prop, maker(COLUMNS, inputs.valid_customer, OPTIONAL)


def sources_target(engine: Engine, files: Files, fmt: str) -> tuple[Property, Any]:
    tables, check = ("data_sources", "audit_entries"), DuckDBEngine()
    maker = inputs.csv_file if fmt == "csv" else inputs.parquet_file
    cases = st.sampled_from(list(inputs.SOURCE_COLUMNS)).flatmap(
        lambda t: st.tuples(st.just(t), maker(inputs.SOURCE_COLUMNS[t], inputs.valid_source(t)))
    )

    def prop(case: tuple[str, tuple[bytes, list[Any], bool]]) -> str:
        table, (data, rows, ok) = case
        path = files.write(f".{fmt}", data)
        before = snapshot(engine, tables)
        try:
            with UnitOfWork(engine) as uow:
                added = add_source(uow.session, table, str(path), NOW, "fuzz", check=check)
                uow.commit()
        except InvalidInputError as exc:
            names_place(exc, path, r".*\b(column|line|row) ")
            assert snapshot(engine, tables) == before, "a refused source changed the database"
            assert not ok, f"a valid file was refused: {exc}"
            return "refused"
        assert not ok or added.rows == len(rows), added
        return "added"

    return prop, cases


def policy_target() -> tuple[Property, Any]:
    from makegood.policy.rules import CustomerFacts, IncidentFacts, decide

    incident = IncidentFacts(("streaming", "shipping"), "major", None, 240)
    customers = [CustomerFacts("active", "US", "basic", 899, "USD", 31),
                 CustomerFacts("paused", "JP", "", 120_000, "JPY", 30),
                 CustomerFacts("active", "BH", "gold", 2**62, "BHD", 28)]  # fmt: skip

    def prop(case: str) -> str:
        try:
            policy = parse_policy(case, "fuzz.toml")
            # A valid policy decides for any customer, or names the key it cannot apply.
            for customer, confidence in itertools.product(customers, ("confirmed", "possible")):
                decide(policy, incident, customer, confidence, 3)
        except InvalidInputError as exc:
            assert re.match(r"(fuzz\.toml|policy): ", str(exc)), str(exc)
            for line in exc.problems:
                assert re.match(r"[^:\s][^\n]*: \S", line), f"a problem without its key: {line!r}"
            return "refused"
        return "valid"

    return prop, inputs.policy_texts()


@contextmanager
def environment(env: dict[str, str], directory: Path) -> Iterator[None]:
    """Only these MAKEGOOD_* variables, in this working directory."""
    saved, here = dict(os.environ), os.getcwd()
    for name in [n for n in os.environ if n.upper().startswith("MAKEGOOD_")]:
        del os.environ[name]
    os.environ.update(env)
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)


def settings_target(directory: Path) -> tuple[Property, Any]:
    from makegood import config
    from makegood.kits.cli.context import load_settings

    (directory / "folder").mkdir(parents=True, exist_ok=True)
    (directory / "secret.txt").write_text(f"{MARK}-from-file\n")
    (directory / "binary.bin").write_bytes(b"\xff\xfe" + MARK.encode())
    toml = directory / "makegood.toml"
    place = rf"({re.escape(str(toml.resolve()))}|environment variable MAKEGOOD_\w+): "
    models = [v for v in vars(config).values() if hasattr(v, "model_fields")]

    def prop(case: tuple[str | bytes | None, dict[str, str]]) -> str:
        content, env = case
        toml.unlink(missing_ok=True)
        if content is not None:
            toml.write_bytes(content if isinstance(content, bytes) else content.encode())
        with environment(env, directory):
            try:
                load_settings()
            except ConfigurationError as exc:
                assert MARK not in str(exc), f"a secret in the message: {exc}"
                assert exc.problems or re.match(place, str(exc)), f"no place named: {exc}"
                for line in exc.problems:
                    assert re.match(place + r"(unknown key ['\"]|[^\s:][^\n]*: \S)", line), line
                return "refused"
        return "loaded"

    return prop, inputs.settings_cases(inputs.model_keys(*models))


def api_world(engine: Engine, url: str, files: Files) -> tuple[Any, dict[str, str], dict]:
    """The application on this database, keys of every role, and two streaming incidents
    with impacts: one whose claim campaign was executed (offers to claim, a campaign to
    act on), one left to plan."""
    from fastapi.testclient import TestClient

    from makegood.access.service import create_key
    from makegood.config import Settings, WebSettings
    from makegood.core.clock import FixedClock
    from makegood.entrypoints.app import create_app

    keys = {"hook": TOKEN, "nobody": "nope"}
    row = "w{0},w{0}@example.com,Ann,en-US,America/New_York,US,active,basic,8.99,USD,2026-04-01"
    people = ",".join(COLUMNS[:11]) + "\n" + "\n".join(map(row.format, range(3)))
    people = people.replace("8.99", "90000000000000000.00", 1)  # a credit of 103% overflows
    event = "w{0},2026-03-02T19:00:00Z,streaming,error,tv,us"
    events = ",".join(inputs.SOURCE_COLUMNS["usage_events"]) + "\n"
    events += "\n".join(map(event.format, range(3)))
    with UnitOfWork(engine) as uow:
        for role in ("operator", "approver", "admin", "claims"):
            keys[role] = create_key(uow.session, f"fuzz-{role}", role, NOW, "fuzz")[1]
        import_customers(uow.session, files.write(".csv", people.encode()), NOW)
        source = str(files.write(".csv", events.encode()))
        add_source(uow.session, "usage_events", source, NOW, "fuzz", check=DuckDBEngine())
        uow.commit()
    web = WebSettings(alertmanager_token=TOKEN, claim_rate_per_minute=0)
    config = Settings(database_url=url, secret_key=SECRET, cache_dir=files.directory, web=web)
    client = TestClient(create_app(config, FixedClock(NOW)))

    def auth(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[role]}"}

    def call(path: str, role: str, body: Any = None) -> Any:
        answer = client.post(path, headers=auth(role), json=body)
        assert answer.status_code < 300, answer.text
        return answer.json()

    window = {"start": "2026-03-02T18:00:00Z", "end": "2026-03-02T22:00:00Z"}
    declared = {"services": ["streaming"], "title": "Down", **window}
    incidents = [call("/api/incidents", "operator", declared) for _ in range(2)]
    for incident in incidents:
        call(f"/api/incidents/{incident['id']}/impact-runs", "operator")
    policy = {"incident_id": incidents[0]["id"], "policy": seed_policy_text()}
    plan = call("/api/campaigns", "operator", policy)
    call(f"/api/campaigns/{plan['id']}/approve", "approver")
    call(f"/api/campaigns/{plan['id']}/execute", "operator")
    offers = client.get("/api/customers/w0/offers", headers=auth("claims")).json()
    ids = {"incidents": [i["id"] for i in incidents], "campaigns": [plan["id"]],
           "offers": [o["id"] for o in offers]}  # fmt: skip
    return client, keys, ids


def api_target(engine: Engine, url: str, files: Files) -> tuple[Property, Any]:
    client, keys, ids = api_world(engine, url, files)

    def prop(case: tuple[str, str, str, Any]) -> str:
        method, path, role, body = case
        headers, kw = {"Authorization": f"Bearer {keys[role]}"}, dict[str, Any]()
        if isinstance(body, tuple):
            kw["files"] = {"file": (body[0], body[1][0])}
        elif body is not None:
            kw["content"] = body if isinstance(body, bytes) else json.dumps(body, default=str)
            headers["Content-Type"] = "application/json"
        before = snapshot(engine, API_TABLES)
        answer = client.request(method, path, headers=headers, **kw)
        assert answer.status_code < 500, f"{answer.status_code}: {answer.text[:500]}"
        if answer.status_code >= 400:
            error = answer.json()
            assert set(error) == {"error"}, answer.text
            assert set(error["error"]) == {"code", "message", "field"}, answer.text
            assert error["error"]["message"], answer.text
            assert answer.status_code != 422 or error["error"]["field"], f"no field: {answer.text}"
            assert snapshot(engine, API_TABLES) == before, f"a {answer.status_code} wrote rows"
        return str(answer.status_code)

    return prop, inputs.api_cases(ids)


def run(prop: Property, cases: Any, examples: int, seed_: int) -> dict[str, Any]:
    """One property: inputs tried (counted here), how they ended, the distinct failures
    with their shrunk inputs, seconds. An error Python could only report on stderr as
    ignored fails the input too: the promise is never a traceback."""
    tried, reports, outcomes, ignored = 0, list[str](), Counter[str](), list[str]()

    @settings(max_examples=examples, deadline=None, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @seed(seed_)
    @given(cases)
    def check(case: Any) -> None:
        nonlocal tried
        tried += 1
        del ignored[:]
        outcome = prop(case)
        assert not ignored, f"an error on stderr: {ignored[0]}"
        outcomes[outcome] += 1

    started, failures, hook = time.perf_counter(), list[BaseException](), sys.unraisablehook
    sys.unraisablehook = lambda u: ignored.append(f"{type(u.exc_value).__name__}: {u.exc_value}")
    with reporting.with_reporter(reports.append):
        try:
            check()
        except BaseExceptionGroup as group:  # several distinct failures
            failures = list(group.exceptions)
        except Exception as exc:
            failures = [exc]
        finally:
            sys.unraisablehook = hook
    found = [
        {"error": f"{type(f).__name__}: {str(f)[:600]}",
         "input": "\n".join([*reports, *getattr(f, "__notes__", [])])[:3000]}
        for f in failures
    ]  # fmt: skip
    seconds = round(time.perf_counter() - started, 1)
    ends = dict(outcomes.most_common())
    return {"inputs": tried, "outcomes": ends, "failures": len(failures), "seconds": seconds,
            "found": found}  # fmt: skip


@contextmanager
def database(kind: str, directory: Path) -> Iterator[tuple[Engine, str]]:
    """A migrated database of the fuzzer's own: an SQLite file, or a new PostgreSQL one,
    dropped at the end."""
    admin, name = None, f"makegood_fuzz_{os.getpid()}"
    if kind == "sqlite":
        url = f"sqlite:///{directory / 'fuzz.db'}"
    else:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        yield engine, url
    finally:
        engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description="Fuzz makegood's inputs with hypothesis.")
    add = parser.add_argument
    add("--examples", type=int, default=2000, help="examples per target")
    add("--quick", action="store_true", help="100 examples per target (CI)")
    add("--seed", type=int, default=2026)
    add("--target", action="append", choices=TARGETS, help="repeatable")
    add("--database", choices=["sqlite", "postgresql"], default="sqlite")
    add("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    examples = 100 if args.quick else args.examples
    figures: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="makegood-fuzz-") as tmp,
        database(args.database, Path(tmp)) as (engine, url),
    ):
        files = Files(Path(tmp))
        targets: dict[str, Callable[[], tuple[Property, Any]]] = {
            "customers-csv": lambda: customers_target(engine, files, "csv"),
            "customers-parquet": lambda: customers_target(engine, files, "parquet"),
            "sources-csv": lambda: sources_target(engine, files, "csv"),
            "sources-parquet": lambda: sources_target(engine, files, "parquet"),
            "policy": policy_target,
            "settings": lambda: settings_target(Path(tmp) / "cwd"),
            "api": lambda: api_target(engine, url, files),
        }
        for name in args.target or TARGETS:
            f = figures[name] = run(*targets[name](), examples, args.seed)
            ends = ", ".join(f"{k} {v}" for k, v in f["outcomes"].items())
            print(f"{name:<18} {f['inputs']:>6} inputs {f['failures']:>2} failures "
                  f"{f['seconds']:>6}s  ({ends})", flush=True)  # fmt: skip
            for failure in f["found"]:
                print("    " + failure["error"].splitlines()[0][:160])
    # One record per database, the other's kept: {"sqlite": {...}, "postgresql": {...}}.
    args.out.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(args.out.read_text()) if args.out.is_file() else {}
    runs[args.database] = {"seed": args.seed, "examples": examples, "targets": figures}
    args.out.write_text(json.dumps(runs, indent=2) + "\n")
    print(f"\n{'target':<18} {'inputs':>7} {'failures':>8} {'seconds':>8}")
    for name, f in figures.items():
        print(f"{name:<18} {f['inputs']:>7} {f['failures']:>8} {f['seconds']:>8}")
    return 1 if any(f["failures"] for f in figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
