"""Fuzzed inputs, a few dozen of each kind and always the same ones (seeded): what
chaos/fuzz.py checks with thousands, kept in the suite. Whatever the input, makegood
takes it or refuses it with an error naming the place (file, row and column; key;
variable; field), never crashes, and a refusal writes nothing."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from makegood.access.service import create_key
from makegood.config import Settings, WebSettings
from makegood.core.clock import FixedClock
from makegood.core.errors import ConfigurationError, InvalidInputError
from makegood.customers.service import import_customers
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.kits.cli.context import load_settings
from makegood.policy.schema import parse_policy
from makegood.policy.seed import seed_policy_text
from makegood.sources.service import add_source
from tests.conftest import NOW
from tests.support.files import HEADER, customer
from tests.support.ports import CHECK
from tests.support.world import SECRET

FUZZED = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
ODD = ["", " ", "NaN", "1e5", "8,99", "9" * 25, "-1", "٣", '"', "a,b", "\n", "\r", "\x00",
       "\ufeff", "2026-02-30", "x" * 300, "+1", "İ", "xx-YY", "\x1b[31m", "2026-03-02T18:00:00"]  # fmt: skip
CELL = st.one_of(st.sampled_from(ODD), st.text(max_size=20), st.integers().map(str))
SCALAR = st.one_of(CELL, st.integers(), st.floats(), st.booleans(), st.lists(CELL, max_size=2))
TOKEN = "am-token-fuzz-8c1e"
E = TypeVar("E", bound=Exception)


def refusal(kind: type[E], call: Callable[[], object]) -> E | None:
    """The error of this kind the call raised; None when it went through."""
    try:
        call()
    except kind as exc:
        return exc
    return None


def imported(engine: Engine, path: Path) -> None:
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, path, NOW)
        uow.commit()


def added(engine: Engine, path: Path) -> None:
    with UnitOfWork(engine) as uow:
        add_source(uow.session, "usage_events", str(path), NOW, "t", **CHECK)
        uow.commit()


def checksum(engine: Engine, *tables: str) -> str:
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for name in tables:
            rows = sorted(map(repr, conn.execute(text(f"SELECT * FROM {name}"))))
            digest.update(repr(rows).encode())
    return digest.hexdigest()


@st.composite
def table(draw: st.DrawFn, columns: list[str], row: Any) -> list[list[str]]:
    """A header (columns left out or shuffled) and a few rows with some cells replaced."""
    header = draw(st.permutations(columns[: len(columns) - draw(st.integers(0, 1))]))
    rows = []
    for n in range(draw(st.integers(0, 4))):
        values = row(n)
        for name in draw(st.sets(st.sampled_from(columns), max_size=2)):
            values[name] = draw(CELL)
        rows.append([values[c] for c in header])
    return [header, *rows]


@st.composite
def csv_file(draw: st.DrawFn, columns: list[str], row: Any) -> bytes:
    """Written by the csv module, or joined by any separator; a BOM; damage at a byte."""
    out = io.StringIO()
    lines = draw(table(columns, row))
    sep = draw(st.sampled_from([None, ",", ";"]))
    if sep is None:
        csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"]))).writerows(lines)
    else:
        out.write("\n".join(sep.join(r) for r in lines))
    data = b"\xef\xbb\xbf" * draw(st.integers(0, 1)) + out.getvalue().encode()
    at = draw(st.integers(0, len(data)))
    junk = draw(st.sampled_from([b"", b"\x00", b"\xff\xfe", b'"']))
    return data[:at] + junk + data[at + draw(st.integers(0, 3)) :]


@st.composite
def parquet_file(draw: st.DrawFn, columns: list[str], row: Any) -> bytes:
    """Text columns, and a few of other types: numbers, dates, lists, structs, nulls."""
    header, *rows = draw(table(columns, row))
    other = {
        "int": lambda n: pa.array(range(n)),
        "float": lambda n: pa.array([8.99] * n),
        "date": lambda n: pa.array([NOW.date()] * n, pa.date32()),
        "list": lambda n: pa.array([["x"]] * n, pa.list_(pa.string())),
        "struct": lambda n: pa.array([{"v": "x"}] * n, pa.struct([("v", pa.string())])),
        "binary": lambda n: pa.array([b"\xff"] * n, pa.binary()).dictionary_encode(),
        "null": pa.nulls,
    }
    arrays = [pa.array([r[i] for r in rows], pa.string()) for i in range(len(header))]
    for i in draw(st.sets(st.integers(0, len(header) - 1), max_size=2)):
        arrays[i] = other[draw(st.sampled_from(sorted(other)))](len(rows))
    out = io.BytesIO()
    pq.write_table(pa.table(arrays, names=header), out)
    return out.getvalue()


def names_place(exc: InvalidInputError, path: Path) -> None:
    assert str(exc).startswith(str(path)), str(exc)
    place = rf"{re.escape(path.name)}, (row \d+( \(line \d+\))?(, column \w+)?|line \d+): \S"
    for problem in exc.problems:
        assert problem.startswith("... and ") or re.match(place, problem), problem


def test_customers_files_import_or_are_refused_by_place(engine, tmp_path):
    made = iter(range(10**6))

    @FUZZED
    @given(st.one_of(csv_file(HEADER, customer_row).map(lambda d: (".csv", d)),
                     parquet_file(HEADER, customer_row).map(lambda d: (".parquet", d))))  # fmt: skip
    def check(case: tuple[str, bytes]) -> None:
        path = tmp_path / f"customers{next(made)}{case[0]}"
        path.write_bytes(case[1])
        before = checksum(engine, "customers", "audit_entries")
        error = refusal(InvalidInputError, lambda: imported(engine, path))
        if error is not None:
            names_place(error, path)
            assert checksum(engine, "customers", "audit_entries") == before

    check()


def customer_row(n: int) -> dict[str, str]:
    return customer(f"c{n}")


EVENT = ["customer_id", "occurred_at", "service", "outcome", "device", "region"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_usage_files_are_added_or_refused_by_place(engine, tmp_path):
    made = iter(range(10**6))
    event = dict(
        zip(EVENT, ["c1", "2026-03-02T18:00:00Z", "streaming", "error", "tv", ""], strict=True)
    )

    @FUZZED
    @given(st.one_of(csv_file(EVENT, lambda n: dict(event)).map(lambda d: (".csv", d)),
                     parquet_file(EVENT, lambda n: dict(event)).map(lambda d: (".parquet", d))))  # fmt: skip
    def check(case: tuple[str, bytes]) -> None:
        path = tmp_path / f"events{next(made)}{case[0]}"
        path.write_bytes(case[1])
        before = checksum(engine, "data_sources", "audit_entries")
        error = refusal(InvalidInputError, lambda: added(engine, path))
        if error is not None:
            assert str(error).startswith(str(path)), str(error)
            for problem in error.problems:
                assert re.search(r"\b(column|line|row) ", problem), problem
            assert checksum(engine, "data_sources", "audit_entries") == before

    check()


@st.composite
def mutated(draw: st.DrawFn, data: Any) -> Any:
    """A copy with one value anywhere replaced, removed, or given a sibling key."""
    if isinstance(data, dict) and data and draw(st.integers(0, 2)):
        key = draw(st.sampled_from(sorted(data)))
        return {**data, key: draw(mutated(data[key]))}
    if isinstance(data, list) and data and draw(st.booleans()):
        at = draw(st.integers(0, len(data) - 1))
        return [*data[:at], draw(mutated(data[at])), *data[at + 1 :]]
    if isinstance(data, dict) and draw(st.booleans()):
        return {**data, draw(st.sampled_from(["cap", "fixed", "x", "name"])): draw(SCALAR)}
    return draw(SCALAR)


def toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(toml, value)) + "]"
    return json.dumps(value).lower() if isinstance(value, bool) else json.dumps(value)


def document(data: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in data.items())


SEED = parse_policy(seed_policy_text()).model_dump(mode="json", exclude={"source"})


@FUZZED
@given(
    st.one_of(
        st.text(), mutated(SEED).map(lambda d: document(d) if isinstance(d, dict) else str(d))
    )
)
def test_policies_parse_or_are_refused_by_key(text: str) -> None:
    error = refusal(InvalidInputError, lambda: parse_policy(text, "p.toml"))
    if error is not None:
        assert str(error).startswith("p.toml: "), str(error)
        for problem in error.problems:
            assert re.match(r"[^:\s][^\n]*: \S", problem), problem


SECRET_MARK = "Zq7secret"
SETTINGS = {"secret_key": f"{SECRET_MARK}-0123456789", "base_url": "https://example.com",
            "web": {"alertmanager_token": f"{SECRET_MARK}-am", "claim_rate_per_minute": 30},
            "delivery": {"connections": 8}, "company": {"support_phones": {"US": "1-800"}}}  # fmt: skip
VARIABLES = ["MAKEGOOD_NOW", "MAKEGOOD_COMPANY", "MAKEGOOD_DELIVERY__CONNECTIONS",
             "MAKEGOOD_SECRET_KEY_FILE", "MAKEGOOD_WEB__ALERTMANAGER_TOKEN_FILE", "MAKEGOOD_X"]  # fmt: skip


@contextlib.contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.upper().startswith("MAKEGOOD_")]:
        del os.environ[name]
    os.environ.update(variables)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_settings_load_or_are_refused_naming_key_or_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "binary.bin").write_bytes(b"\xff" + SECRET_MARK.encode())
    toml_file = tmp_path / "makegood.toml"
    place = rf"({re.escape(str(toml_file.resolve()))}|environment variable MAKEGOOD_\w+): "
    value = st.one_of(CELL.map(lambda t: t.replace("\x00", "")), st.just("binary.bin"))

    @FUZZED
    @given(st.one_of(mutated(SETTINGS).map(lambda d: document(d) if isinstance(d, dict) else ""),
                     st.binary()), st.dictionaries(st.sampled_from(VARIABLES), value, max_size=2))  # fmt: skip
    def check(content: str | bytes, variables: dict[str, str]) -> None:
        toml_file.write_bytes(content if isinstance(content, bytes) else content.encode())
        with environment(variables):
            error = refusal(ConfigurationError, load_settings)
        if error is not None:
            assert SECRET_MARK not in str(error), str(error)
            assert error.problems or re.match(place, error.message), error.message
            for problem in error.problems:
                assert re.match(place + r"(unknown key |[^\s:][^\n]*: \S)", problem), problem

    check()


API_TABLES = ("incidents", "alert_links", "campaigns", "offers", "ledger_entries", "audit_entries")
ALERT = {"status": "firing", "labels": {"makegood_service": "streaming", "severity": "p1"},
         "startsAt": "2026-03-04T19:30:12.739266876-05:00", "fingerprint": "f1"}  # fmt: skip
INCIDENT = {"services": ["streaming"], "start": "2026-03-02T18:00:00Z", "title": "Down",
            "end": "2026-03-02T22:00:00Z", "summaries": {"de-DE": "Weg."}, "cause": "third_party"}  # fmt: skip


def test_api_bodies_are_taken_or_refused_as_json_errors(engine, database_url, world):
    with UnitOfWork(engine) as uow:
        _, key = create_key(uow.session, "fuzz", "admin", NOW, "t")
        uow.commit()
    config = Settings(database_url=database_url, secret_key=SECRET,
                      web=WebSettings(alertmanager_token=TOKEN, claim_rate_per_minute=0))  # fmt: skip
    client = TestClient(create_app(config, FixedClock(NOW)))
    plan = {"incident_id": world.streaming, "policy": seed_policy_text()}
    policy = mutated(SEED).map(lambda d: document(d) if isinstance(d, dict) else str(d))
    bodies = st.one_of(
        st.tuples(st.just("/api/hooks/alertmanager"), mutated({"status": "firing", "alerts": [ALERT]})),
        st.tuples(st.just("/api/incidents"), mutated(INCIDENT)),
        st.tuples(st.just("/api/campaigns"), st.one_of(mutated(plan), policy.map(lambda p: {**plan, "policy": p}))),
        st.tuples(st.sampled_from([f"/api/incidents/{world.shipping}/resolve", "/api/offers/1/claim"]), mutated({"end": "x"})),
    )  # fmt: skip

    @FUZZED
    @given(bodies)
    def check(case: tuple[str, Any]) -> None:
        path, body = case
        before = checksum(engine, *API_TABLES)
        token = TOKEN if "hooks" in path else key
        answer = client.post(path, content=json.dumps(body), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})  # fmt: skip
        assert answer.status_code < 500, answer.text
        if answer.status_code >= 400:
            error = answer.json()["error"]
            assert set(error) == {"code", "message", "field"} and error["message"], answer.text
            assert checksum(engine, *API_TABLES) == before, answer.text

    check()
