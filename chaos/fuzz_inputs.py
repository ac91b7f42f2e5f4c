"""The inputs chaos/fuzz.py tries, as hypothesis strategies: cells, whole CSV and
Parquet files, TOML documents mutated from a valid seed, MAKEGOOD_* variables and API
requests. A file strategy also says whether the file it made should be accepted."""

from __future__ import annotations

import copy
import csv
import io
import json
import random
import re
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

from makegood.customers.rules import COLUMNS, OPTIONAL
from makegood.policy.schema import Amount, Exclusions, Limits, Policy, Rule, Tier
from makegood.policy.seed import seed_policy_text

NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
# fmt: off
# Cell values: what a spreadsheet, a careless export or a hostile sender may hold.
ODD = [
    "", " ", "NaN", "Infinity", "-0", "1e5", "0x10", "8,99", "８.９９", "9" * 25, "-1", "+5",
    ".5", "5.", "1.2.3", "٣", '"', '""', "a,b", "a;b", "\t", "\r\n", "\n", "\r", "\x00",
    "\ufeff", "null", "None", " USD", "usd", "2026-02-30", "20260401", "2026-04-01T00:00:00",
    "9999-12-31", "0000-01-01", "x" * 300, "+999999999999999", "e\u0301", "İ", "en_US",
    "xx-YY", "Etc/GMT+14", "../etc/passwd", "America/New_York ", "cus_ x", "\x1b[31m",
    "=cmd|' /C calc'!A0", "\u202e",
]
INSTANTS = ["2026-03-02T18:00:00Z", "2026-03-02T19:30:00+01:00", "2026-03-02 18:00:00-05:00"]
ODD_INSTANTS = [
    "2026-03-02T18:00:00", "2026-13-02T00:00:00Z", "yesterday", "+275760-09-13T00:00:00Z",
    "2026-03-02T18:00:00+25:00", "0001-01-01T00:00:00Z", "2026-03-02T24:00:00Z",
    "2026-03-04T19:30:12.739266876-05:00", "9999-12-31T23:59:59-23:59", "1999-12-31T23:59:59Z",
]
SOURCE_COLUMNS = {
    "usage_events": ("customer_id", "occurred_at", "service", "outcome", "device", "region"),
    "shipments": ("customer_id", "order_id", "due_at", "shipped_at"),
}
SOURCE_VALUES = {
    "customer_id": ["c1", "c2", "42"], "order_id": ["o1", "77"], "occurred_at": INSTANTS,
    "due_at": INSTANTS, "shipped_at": [*INSTANTS, ""], "service": ["streaming", "shipping"],
    "outcome": ["ok", "error"], "device": ["tv", ""], "region": ["us-east", ""],
}
# Parquet column types: the text ones are read as they are, the rest must be refused
# by name or read as their text.
TYPES = ["text", "text", "large", "dict", "binary", "dictbin", "int", "float", "bool", "date",
         "timestamp", "timestamptz", "decimal", "list", "struct", "map", "time", "null"]
DECIMALS = ["5", "150", "100000", "-1", "0", "1e3", "NaN", "Infinity", "-0", "0.001", "5.000",
            "1" + "0" * 40, "0." + "0" * 40 + "1", " 5 ", "٥", "5,0", "", "99999999999999999999.99"]
# fmt: on
JUNK = st.one_of(
    st.sampled_from(ODD),
    st.text(max_size=40),
    st.integers().map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)
SCALARS = st.one_of(
    *(st.text(max_size=20), st.integers(), st.floats(), st.booleans()),
    *(st.sampled_from(DECIMALS), st.datetimes(), st.dates(), st.integers(-(2**63), 2**63 - 1)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JUNK, inner, max_size=3),
    max_leaves=8,
)


def valid_customer(n: int) -> st.SearchStrategy[dict[str, str]]:
    one = st.sampled_from
    money = one([("USD", "8.99"), ("EUR", "15.5"), ("JPY", "1200"), ("BHD", "3.125")])
    row = st.fixed_dictionaries(
        {
            "email": one(["ann@example.com", f"c{n}@example.org", "zoë@exämple.de"]),
            "first_name": one(["Ann", "Zoë", "李", ""]),
            "locale": one(["en-US", "de-DE", "ja-JP", "fr"]),
            "timezone": one(["America/New_York", "Europe/Berlin", "Asia/Tokyo"]),
            "country": one(["US", "DE", "JP", "GB"]),
            "status": one(["active", "paused", "cancelled"]),
            "plan": one(["basic", "premium", ""]),
            "next_bill_date": one(["2026-04-01", "2026-12-31"]),
            "billing_id": one(["", "cus_Q1w2E3"]),
            "phone": one(["", "+14155550123"]),
        }
    )
    return st.tuples(row, money).map(
        lambda r: {"customer_id": f"c{n}", "currency": r[1][0], "monthly_price": r[1][1], **r[0]}
    )


def valid_source(table: str) -> Callable[[int], st.SearchStrategy[dict[str, str]]]:
    row = {c: st.sampled_from(SOURCE_VALUES[c]) for c in SOURCE_COLUMNS[table]}
    return lambda n: st.fixed_dictionaries(row)


@st.composite
def table_rows(draw: st.DrawFn, columns: tuple[str, ...], valid: Any) -> tuple:
    """(rows as dicts, whether any cell was mutated)."""
    rows, mutated = [], False
    for n in range(draw(st.integers(0, 6))):
        row = draw(valid(n))
        for name in draw(st.sets(st.sampled_from(columns), max_size=3)):
            junk = st.sampled_from(ODD_INSTANTS) if name.endswith("_at") else JUNK
            row[name] = draw(st.one_of(junk, st.none()))
            mutated = True
        rows.append(row)
    return rows, mutated


@st.composite
def csv_file(draw: st.DrawFn, columns: tuple[str, ...], valid: Any, optional: Any = ()) -> tuple:
    """(file bytes, rows, whether the file should be accepted): valid headers (columns
    left out, shuffled), mutated cells, other delimiters, a BOM, damage at any byte."""
    dropped = draw(st.sets(st.sampled_from(columns), max_size=1))
    header = draw(st.permutations([c for c in columns if c not in dropped]))
    rows, mutated = draw(table_rows(columns, valid))
    table = [header, *[[str(r.get(c) or "") for c in header] for r in rows]]
    style = draw(st.sampled_from(["csv", "csv", "raw", "semicolon", "tab"]))
    out = io.StringIO()
    if style == "csv":
        csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"]))).writerows(table)
    else:
        sep = {"raw": ",", "semicolon": ";", "tab": "\t"}[style]
        out.write("\n".join(sep.join(r) for r in table))
    data = b"\xef\xbb\xbf" * draw(st.integers(0, 1)) + out.getvalue().encode()
    damaged = draw(st.booleans())
    if damaged:
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["cut", "junk", "nul"]))
        junk = {"cut": b"", "junk": draw(st.binary(min_size=1, max_size=12)), "nul": b"\x00"}[how]
        data = data[:at] + junk + (b"" if how == "cut" else data[at:])
    ok = not (mutated or damaged or dropped - set(optional) or style in ("semicolon", "tab"))
    return data, rows, ok


def arrow_column(kind: str, values: list[Any], rnd: random.Random) -> pa.Array:
    texts = [None if v is None else str(v) for v in values]
    n = len(values)
    binary = [None if t is None else t.encode() + rnd.choice([b"", b"\xff"]) for t in texts]
    make: dict[str, Callable[[], pa.Array]] = {
        "text": lambda: pa.array(texts, pa.string()),
        "large": lambda: pa.array(texts, pa.large_string()),
        "dict": lambda: pa.array(texts, pa.string()).dictionary_encode(),
        "binary": lambda: pa.array(binary, pa.binary()),
        "dictbin": lambda: pa.array(binary, pa.binary()).dictionary_encode(),
        "int": lambda: pa.array([rnd.randint(-(2**63), 2**63 - 1) for _ in range(n)]),
        "float": lambda: pa.array([rnd.random() * 100 for _ in range(n)]),
        "bool": lambda: pa.array([rnd.random() < 0.5 for _ in range(n)]),
        "date": lambda: pa.array([date(2026, 4, 1)] * n, pa.date32()),
        "timestamp": lambda: pa.array([NOW.replace(tzinfo=None)] * n, pa.timestamp("us")),
        "timestamptz": lambda: pa.array([NOW] * n, pa.timestamp("us", tz="UTC")),
        "decimal": lambda: pa.array([Decimal("8.99")] * n, pa.decimal128(10, 2)),
        "list": lambda: pa.array([[t or ""] for t in texts], pa.list_(pa.string())),
        "struct": lambda: pa.array([{"v": t} for t in texts], pa.struct([("v", pa.string())])),
        "map": lambda: pa.array([[("k", t)] for t in texts], pa.map_(pa.string(), pa.string())),
        "time": lambda: pa.array([None] * n, pa.time64("us")),
        "null": lambda: pa.nulls(n),
    }
    return make[kind]()


@st.composite
def parquet_file(
    draw: st.DrawFn, columns: tuple[str, ...], valid: Any, optional: Any = ()
) -> tuple:
    """(file bytes, rows, whether it should be accepted): columns of every type, nulls,
    nested types, columns left out."""
    rows, mutated = draw(table_rows(columns, valid))
    rnd = random.Random(draw(st.integers(0, 2**32)))  # noqa: S311 - test data, not a secret
    arrays, names, retyped = [], [], False
    odd = draw(st.sets(st.sampled_from(columns), max_size=3))  # a few columns typed otherwise
    for name in columns:
        kind = draw(st.sampled_from([*TYPES, "gone"])) if name in odd else "text"
        if kind == "gone":
            retyped |= name not in optional  # left out
            continue
        retyped |= kind not in ("text", "large", "dict")
        arrays.append(arrow_column(kind, [r.get(name) for r in rows], rnd))
        names.append(name)
    out = io.BytesIO()
    pq.write_table(pa.table(arrays, names=names), out)
    return out.getvalue(), rows, not (mutated or retyped)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # inf, -inf and nan are TOML too
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_document(data: dict[str, Any]) -> str:
    return "\n".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in data.items()) + "\n"


def places(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) of a parsed document."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        yield node, key
        if isinstance(value, dict | list):
            yield from places(value)


@st.composite
def mutated(draw: st.DrawFn, seed_doc: dict[str, Any], keys: list[str], values: Any) -> Any:
    """The seed document with a few values replaced, keys removed or added."""
    doc = copy.deepcopy(seed_doc)
    for _ in range(draw(st.integers(0, 4))):
        found = list(places(doc))
        node, key = draw(st.sampled_from(found)) if found else (doc, None)
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace" and key is not None:
            node[key] = draw(st.one_of(values, values, VALUES))  # values meant for here, mostly
        elif op == "delete" and key is not None:
            del node[key]
        elif isinstance(node, dict):
            node[draw(st.one_of(st.sampled_from(keys), st.text(max_size=8)))] = draw(values)
        else:
            node.append(draw(values))
    return doc


def model_keys(*models: Any) -> list[str]:
    return sorted({name for m in models for name in m.model_fields})


@st.composite
def extreme_policy(draw: st.DrawFn) -> str:
    """The seed policy, valid in form, with one number pushed to an extreme."""
    doc = tomllib.loads(seed_policy_text())
    rule, limits = draw(st.sampled_from(doc["rules"])), doc["limits"]
    big = st.sampled_from(["150", "100000", "99999999999999999999.99", "1" + "0" * 40])
    count = st.sampled_from([1, 365, 36_500, 10**6, 2**31, 2**63 - 1, 10**30])
    match draw(st.sampled_from(["amount", "minimum", "caps", "version", "days", "minutes"])):
        case "amount":
            kind = draw(st.sampled_from(["percent_of_monthly_price", "fixed", "days_of_service"]))
            rule["amount"] = {kind: draw(big)}
        case "minimum":
            limits["minimum"] = draw(big)
        case "caps":
            limits["max_percent_per_statement"] = draw(big)
            limits.update(window_days=draw(count), max_percent_per_window=draw(big))
        case "version":
            doc["version"] = draw(count)
        case "days":
            doc["exclusions"]["compensated_within_days"] = draw(count)
        case _:
            rule["min_duration_minutes"] = draw(count)
    return toml_document(doc)


def policy_texts() -> st.SearchStrategy[str]:
    """Any text, any TOML, the seed policy mutated as data, the seed text spliced."""
    seed_text = seed_policy_text()
    keys = model_keys(Policy, Rule, Amount, Limits, Exclusions, Tier)
    words = st.sampled_from(["claim", "automatic", "half_even", "confirmed", "shipping", "USD"])
    values = st.one_of(st.sampled_from(DECIMALS), words, st.lists(words, max_size=2), VALUES)

    @st.composite
    def spliced(draw: st.DrawFn) -> str:
        at, gone = draw(st.integers(0, len(seed_text))), draw(st.integers(0, 20))
        return seed_text[:at] + draw(st.text(max_size=20)) + seed_text[at + gone :]

    seeded = mutated(tomllib.loads(seed_text), keys, values).map(toml_document)
    anything = st.dictionaries(st.text(max_size=8), VALUES).map(toml_document)
    kinds = [st.text(), anything, spliced(), seeded, seeded, extreme_policy()]
    return st.integers(0, len(kinds) - 1).flatmap(kinds.__getitem__)


MARK = "Zq7secret"  # in every secret: no error message may repeat it
SETTINGS_SEED: dict[str, Any] = {
    "database_url": "sqlite:///fuzz.db",
    "base_url": "https://apologies.example.com",
    "secret_key": f"{MARK}-key-0123456789",
    "smtp_url": f"smtp+starttls://mailer:{MARK}@relay.example.com:587",
    "company": {"name": "Example Video", "support_phones": {"US": "1-800-555-0100"}},
    "delivery": {"connections": 8, "domains": {"gmail.com": {"rate_per_second": 5}}},
    "web": {"alertmanager_token": f"{MARK}-am", "claim_rate_per_minute": 30},
    "billing": {"stripe": {"api_key": f"sk_live_{MARK}"}, "webhook_secret": f"whsec_{MARK}"},
    "spark": {"master": "local[*]", "conf": {"spark.executor.memory": "4g"}},
    "sms": {"auth_token": f"{MARK}-sms", "from_number": "+14155550100"},
    "bounces": {"hook_token": f"{MARK}-hook", "domain": "bounces.example.com"},
}
# fmt: off
ENV_NAMES = [
    "DATABASE_URL", "NOW", "SMTP_URL", "SMTP_URL_FILE", "SECRET_KEY", "SECRET_KEY_FILE",
    "BASE_URL", "COMPANY", "COMPANY__NAME", "COMPANY__SUPPORT_PHONES", "DELIVERY__CONNECTIONS",
    "DELIVERY__DOMAINS", "WEB", "WEB__ALERTMANAGER_TOKEN", "WEB__ALERTMANAGER_TOKEN_FILE",
    "BILLING__STRIPE__API_KEY", "BILLING__STRIPE__API_KEY_FILE", "SPARK__MASTER", "SPARK__CONF",
    "CHANNELS", "DUCKDB_THREADS", "DKIM__PRIVATE_KEY_FILE", "SECRET_KEY__X", "SMS", "CACHE_DIR",
]
# fmt: on
SECRET_ENV = {
    f"MAKEGOOD_{n}"
    for n in ("SECRET_KEY", "SMTP_URL", "WEB__ALERTMANAGER_TOKEN", "BILLING__STRIPE__API_KEY")
}
FILES = ["secret.txt", "binary.bin", "missing.txt", "folder", "folder/../secret.txt"]


def settings_cases(keys: list[str]) -> st.SearchStrategy[tuple[Any, dict[str, str]]]:
    """(makegood.toml as text, bytes or none; MAKEGOOD_* variables)."""
    env_value = st.one_of(
        st.text(max_size=30).map(lambda t: t.replace("\x00", "")),  # no NUL in a variable
        st.sampled_from([*FILES, f"{MARK}-env"]),
        VALUES.map(lambda v: json.dumps(v, default=str)),
    )
    env_name = st.one_of(
        st.sampled_from(ENV_NAMES), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1)
    )
    # Only secrets carry the mark: a file's name or a Spark master is no secret.
    env = st.dictionaries(env_name.map(lambda n: f"MAKEGOOD_{n}"), env_value, max_size=4).map(
        lambda e: {k: v if k in SECRET_ENV else v.replace(MARK, "x") for k, v in e.items()}
    )
    file_text = st.one_of(
        st.none(),
        mutated(SETTINGS_SEED, keys, st.one_of(st.sampled_from(FILES), VALUES)).map(toml_document),
        st.text(),
        st.binary().map(lambda b: b + MARK.encode()),
    )
    return st.tuples(file_text, env)


def alert_body() -> st.SearchStrategy[Any]:
    """Alertmanager's notification, its alerts' labels and instants mutated."""
    instant = st.one_of(
        st.sampled_from([*INSTANTS, *ODD_INSTANTS]),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        JUNK,
        st.integers(),
    )
    label = st.sampled_from(["makegood_service", "makegood_region", "makegood_cause", "severity"])
    value = st.sampled_from(["streaming", "shipping", "us-east, eu-west", "third_party", "p1"])
    alert = st.fixed_dictionaries(
        {
            "status": st.sampled_from(["firing", "resolved"]),
            "labels": st.dictionaries(label | JUNK, value | JUNK, max_size=4),
            "startsAt": instant,
            "fingerprint": st.one_of(st.sampled_from(["fp1", "fp2"]), st.text(max_size=30)),
        },
        optional={"endsAt": instant, "annotations": st.dictionaries(JUNK, JUNK, max_size=3)},
    )
    body = st.fixed_dictionaries(
        {"status": st.sampled_from(["firing", "resolved"]), "alerts": st.lists(alert, max_size=3)}
    )
    return body.flatmap(lambda b: mutated(b, ["alerts", "status", "truncatedAlerts"], VALUES))


def api_cases(ids: dict[str, list[int]]) -> st.SearchStrategy[tuple[str, str, str, Any]]:
    """(method, path, role, body): body is JSON-able data, bytes, or a file upload."""
    incident = {
        "services": ["streaming"], "start": INSTANTS[0], "end": "2026-03-02T22:00:00Z",
        "title": "Playback down", "summary": "Videos would not start.", "severity": "minor",
        "summaries": {"de-DE": "Videos starteten nicht."}, "cause": "third_party",
        "regions": ["us-east"], "devices": ["tv"], "source_ref": "ref-1", "notes": "",
    }  # fmt: skip
    words = st.one_of(st.sampled_from(["streaming", "de-DE", "ja", "minor", "x" * 70]), VALUES)

    def at(template: str, kind: str) -> st.SearchStrategy[str]:
        some = st.one_of(st.sampled_from(ids[kind]), st.integers(), JUNK)
        return some.map(lambda v: template.format(quote(str(v), safe="")))

    def mutate(doc: dict[str, Any]) -> st.SearchStrategy[Any]:
        return mutated(doc, list(doc), words)

    def case(method: Any, path: Any, role: Any, body: Any) -> st.SearchStrategy[Any]:
        parts = (method, path, role, body)
        return st.tuples(*(p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts))

    plan = st.fixed_dictionaries(
        {
            "incident_id": st.just(ids["incidents"][-1]),  # mutate() gives the odd ones
            "policy": st.one_of(policy_texts(), extreme_policy()),
            "holdout_percent": st.sampled_from(["0", "10", "2.5"]),
        }
    )
    actions = st.sampled_from(["approve", "execute", "cancel"])
    campaign = actions.flatmap(lambda a: at("/api/campaigns/{}/" + a, "campaigns"))
    upload = st.tuples(st.text(max_size=12), csv_file(COLUMNS, valid_customer, OPTIONAL))
    raw = ["/api/incidents", "/api/campaigns", "/api/hooks/alertmanager", "/api/offers/1/claim"]
    anyone = st.sampled_from(["operator", "admin", "claims", "hook", "nobody"])
    summary = mutate({"summary": "x", "summaries": {"ja": "y"}})
    end, claim = mutate({"end": INSTANTS[1]}), st.none() | mutate({"customer_id": "w1"})
    kinds = [
        case("POST", "/api/hooks/alertmanager", "hook", alert_body()),
        case("POST", "/api/incidents", "operator", mutate(incident)),
        case("POST", at("/api/incidents/{}/resolve", "incidents"), "operator", end),
        case("PUT", at("/api/incidents/{}/summary", "incidents"), "operator", summary),
        case("POST", at("/api/incidents/{}/impact-runs", "incidents"), "operator", None),
        case("POST", "/api/campaigns", "operator", plan),  # policies mutated, the rest not
        case("POST", "/api/campaigns", "operator", plan),
        case("POST", "/api/campaigns", "operator", plan.flatmap(mutate)),
        case("POST", campaign, "admin", None),
        case("POST", at("/api/offers/{}/claim", "offers"), "claims", claim),
        case("POST", "/api/customers/import", "operator", upload),
        case(st.sampled_from(["POST", "PUT"]), st.sampled_from(raw), anyone, st.binary()),
    ]  # fmt: skip
    return st.integers(0, len(kinds) - 1).flatmap(kinds.__getitem__)
