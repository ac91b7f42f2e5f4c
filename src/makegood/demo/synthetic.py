"""A seeded generator of a subscription company's customers, usage events and
shipments, with two outages in them, at any size.

Everything is produced by DuckDB from ``range()`` and ``hash()`` of the row number
and the seed, so the same seed gives the same files and 100M events take seconds,
not hours. The week of Monday 24 March 2008 holds both outages: the shipping system
down for most of the Monday (US time) and streaming failing on the Thursday evening.

Who each outage hurt is decided first, per customer (a *part*: ``failed``,
``habitual``, ``late``, ...), and the rows are written to play those parts: events
that no part places are kept away from the outage windows and from the weeks before
them that ``habitual_usage`` looks at. So :mod:`makegood.demo.truth` can say
exactly who is affected without running an impact rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from makegood.demo.scenario import (
    DEVICES,
    FIRST_NAMES,
    PROFILES,
    PROFILES_TIERS,
    WEIGHTS,
    Scenario,
)

# Parts customers play, per thousand (of those with enough rows to play one).
STREAMING_PARTS = (
    ("failed", 70),  # tried during the outage and got errors: confirmed
    ("watched", 20),  # watched during the outage without an error: not affected
    ("habitual", 80),  # watch at that hour most weeks, not that night: possible
    ("occasional", 40),  # watched at that hour one week of four: not affected
)
SHIPPING_PARTS = (
    ("late", 100),  # an order due during the outage left late, or not yet: confirmed
    ("on_time", 30),  # an order due during the outage left on time: not affected
)
# habitual_usage looks at the same hours 1 to 4 weeks back (local wall-clock time).
HISTORY_WEEKS = 4
# Events no part places stay this far from those hours: more than any DST shift.
MARGIN = timedelta(hours=3)
# Which of the 4 earlier weeks a customer watched in: two or more, or exactly one.
HABITS = (3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15)
ONE_WEEK = (1, 2, 4, 8)


# ----------------------------------------------------------------- SQL expressions


def _ts(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.isoformat()}'"


def _seconds(value: timedelta) -> int:
    return int(value.total_seconds())


def rand(i: str, seed: int, salt: str) -> str:
    """A pseudo-random non-negative BIGINT from a column, the seed and a salt."""
    return f"CAST(hash({i}, {seed}, '{salt}') >> 1 AS BIGINT)"


def _list(values: tuple[object, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values) + "]"


def profile_of(s: Scenario, c: str) -> str:
    """The index into PROFILES of customer number ``c``, by weight."""
    units = tuple(n for n, w in enumerate(WEIGHTS) for _ in range(w))
    return f"{_list(units)}[1 + {rand(c, s.seed, 'profile')} % {len(units)}]"


def profile_field(s: Scenario, c: str, column: int) -> str:
    return f"{_list(tuple(p[column] for p in PROFILES))}[1 + {profile_of(s, c)}]"


def status_of(s: Scenario, c: str) -> str:
    pick = f"{rand(c, s.seed, 'status')} % 100"
    return (
        f"CASE WHEN {pick} < 90 THEN 'active' WHEN {pick} < 96 THEN 'paused' ELSE 'cancelled' END"
    )


def rows_of(c: str, rows: int, customers: int) -> str:
    """How many of ``rows`` rows dealt round-robin customer number ``c`` gets."""
    return f"({rows // customers} + CASE WHEN {c} < {rows % customers} THEN 1 ELSE 0 END)"


def _part(pick: str, parts: tuple[tuple[str, int], ...]) -> str:
    whens, upto = [], 0
    for name, per_thousand in parts:
        upto += per_thousand
        whens.append(f"WHEN {pick} < {upto} THEN '{name}'")
    return "CASE " + " ".join(whens) + " END"


def streaming_part(s: Scenario, c: str) -> str:
    """The customer's part in the streaming outage, or NULL (too few events to play one)."""
    pick = f"{rand(c, s.seed, 'streaming')} % 1000"
    enough = f"{rows_of(c, s.events, s.customers)} >= {HISTORY_WEEKS}"
    return f"CASE WHEN {enough} THEN {_part(pick, STREAMING_PARTS)} END"


def shipping_part(s: Scenario, c: str) -> str:
    """The customer's part in the shipping outage, or NULL (no shipment at all)."""
    pick = f"{rand(c, s.seed, 'shipping')} % 1000"
    enough = f"{rows_of(c, s.shipments, s.customers)} >= 1"
    return f"CASE WHEN {enough} THEN {_part(pick, SHIPPING_PARTS)} END"


def _weeks_watched(s: Scenario, c: str, part: str) -> str:
    """Bit k-1 set: the customer watched at the outage's hours k weeks earlier."""
    pick = rand(c, s.seed, "habit")
    return (
        f"CASE {part} WHEN 'habitual' THEN {_list(HABITS)}[1 + {pick} % {len(HABITS)}] "
        f"WHEN 'occasional' THEN {_list(ONE_WEEK)}[1 + {pick} % {len(ONE_WEEK)}] ELSE 0 END"
    )


def _outside(s: Scenario, u: str, zones: list[tuple[datetime, datetime]]) -> str:
    """Map ``u`` in [0, free seconds) onto the period, stepping over each zone, so an
    instant drawn uniformly never lands in one."""
    total = _seconds(s.period_end - s.period_start)
    spans = sorted(
        (_seconds(lo - s.period_start), _seconds(hi - s.period_start)) for lo, hi in zones
    )
    terms, covered, previous_end = [], 0, 0
    for lo, hi in spans:
        if lo < previous_end or hi > total:
            raise ValueError("outage zones must be disjoint and inside the period")
        # In u's terms the zone starts where it does, less the zones before it.
        terms.append(f"CASE WHEN {u} >= {lo - covered} THEN {hi - lo} ELSE 0 END")
        covered, previous_end = covered + hi - lo, hi
    return f"{_ts(s.period_start)} + to_seconds(CAST({u} + {' + '.join(terms)} AS BIGINT))"


def _free_seconds(s: Scenario, zones: list[tuple[datetime, datetime]]) -> int:
    return _seconds(s.period_end - s.period_start) - sum(_seconds(hi - lo) for lo, hi in zones)


def streaming_zones(s: Scenario) -> list[tuple[datetime, datetime]]:
    """The outage window and the same hours 1-4 weeks before, with a margin."""
    o = s.streaming
    week = timedelta(weeks=1)
    return [
        (o.start - k * week - MARGIN, o.end - k * week + MARGIN) for k in range(HISTORY_WEEKS + 1)
    ]


def shipping_zones(s: Scenario) -> list[tuple[datetime, datetime]]:
    return [(s.shipping.start, s.shipping.end)]


# ------------------------------------------------------------------------ the files


def customers_sql(s: Scenario, numbered: bool = False) -> str:
    """The customers file; ``numbered`` keeps each one's number as column ``c``."""

    def r(salt: str) -> str:
        return rand("c", s.seed, salt)

    plan = f"{r('plan')} % 10"
    prices = {tier: profile_field(s, "c", 5 + n) for n, tier in enumerate(PROFILES_TIERS)}
    return f"""
    SELECT {"c, " if numbered else ""}printf('c%08d', c) AS customer_id,
           printf('member%d@example.com', c) AS email,
           {_list(FIRST_NAMES)}[1 + {r("name")} % {len(FIRST_NAMES)}] AS first_name,
           {profile_field(s, "c", 0)} AS locale,
           {profile_field(s, "c", 1)} AS timezone,
           {profile_field(s, "c", 2)} AS country,
           {status_of(s, "c")} AS status,
           CASE WHEN {plan} < 4 THEN 'basic' WHEN {plan} < 8 THEN 'standard'
                ELSE 'premium' END AS plan,
           CASE WHEN {plan} < 4 THEN {prices["basic"]} WHEN {plan} < 8 THEN {prices["standard"]}
                ELSE {prices["premium"]} END AS monthly_price,
           {profile_field(s, "c", 3)} AS currency,
           CAST(DATE '{s.streaming.end.date()}' + CAST(1 + {r("bill")} % 30 AS INTEGER)
                AS VARCHAR) AS next_bill_date
    FROM (SELECT range AS c FROM range({s.customers}))
    ORDER BY c"""


def events_sql(s: Scenario) -> str:
    """Events dealt round-robin: customer ``c`` gets events c, c + customers, ...; the
    first few play the customer's part, the rest fall anywhere but near the outage's
    hours (this week's and the four before)."""

    def r(salt: str) -> str:
        return rand("i", s.seed, salt)

    def rc(salt: str) -> str:
        return rand("c", s.seed, salt)

    o = s.streaming
    zones = streaming_zones(s)
    window = _seconds(o.end - o.start)
    units = tuple(PROFILES[n][4] for n, w in enumerate(WEIGHTS) for _ in range(w))
    return f"""
    WITH raw AS (
        SELECT range AS i, range % {s.customers} AS c, range // {s.customers} AS j
        FROM range({s.events})
    ),
    cast_ AS (
        SELECT i, c, j, {streaming_part(s, "c")} AS part,
               {profile_field(s, "c", 1)} AS tz,
               to_seconds(CAST({rc("slot")} % {window} AS BIGINT)) AS slot,
               {r("time")} % {_free_seconds(s, zones)} AS u
        FROM raw
    ),
    placed AS (
        SELECT *,
               CASE WHEN part IN ('failed', 'watched') AND j = 0 THEN 'outage'
                    WHEN part = 'failed' AND j = 1 AND {rc("retry")} % 3 = 0 THEN 'retry'
                    WHEN part IN ('habitual', 'occasional') AND j < {HISTORY_WEEKS}
                         AND ({_weeks_watched(s, "c", "part")} >> CAST(j AS INTEGER)) & 1 = 1
                        THEN 'habit'
                    WHEN part = 'habitual' AND j = {HISTORY_WEEKS} THEN 'next_day'
               END AS play
        FROM cast_
    )
    SELECT printf('c%08d', c) AS customer_id,
           CASE play
               WHEN 'outage' THEN {_ts(o.start)} + slot
               WHEN 'retry' THEN {_ts(o.start)}
                    + to_seconds(CAST({rc("retry_at")} % {window} AS BIGINT))
               -- the same local wall-clock time j + 1 weeks earlier, as habitual_usage reads it
               WHEN 'habit' THEN timezone(tz, timezone(tz, {_ts(o.start)} + slot)
                                              - to_days(CAST(7 * (j + 1) AS INTEGER)))
               WHEN 'next_day' THEN {_ts(o.start)} + slot + INTERVAL 1 DAY
               ELSE {_outside(s, "u", zones)}
           END AS occurred_at,
           CASE WHEN play IS NULL AND {r("service")} % 100 < 15 THEN 'browse'
                ELSE 'streaming' END AS service,
           CASE WHEN play = 'outage' AND part = 'failed' THEN 'error'
                WHEN play = 'retry' AND {rc("retry_ok")} % 2 = 0 THEN 'ok'
                WHEN play = 'retry' THEN 'error'
                WHEN play IS NULL AND {r("error")} % 1000 < 5 THEN 'error'
                ELSE 'ok' END AS outcome,
           {_list(DEVICES)}[1 + {r("device")} % {len(DEVICES)}] AS device,
           {_list(units)}[1 + {rc("profile")} % {len(units)}] AS region
    FROM placed"""


def shipments_sql(s: Scenario) -> str:
    """Orders dealt round-robin; a customer's first order plays its part in the outage
    (due during it: late, or on time); every other order is due outside it."""

    def r(salt: str) -> str:
        return rand("i", s.seed, salt)

    o = s.shipping
    zones = shipping_zones(s)
    window = _seconds(o.end - o.start)
    return f"""
    WITH raw AS (
        SELECT range AS i, range % {s.customers} AS c, range // {s.customers} AS j
        FROM range({s.shipments})
    ),
    due AS (
        SELECT i, c, {r("fate")} % 100 AS fate,
               CASE WHEN j = 0 THEN {shipping_part(s, "c")} END AS part,
               {r("due")} % {_free_seconds(s, zones)} AS u
        FROM raw
    ),
    timed AS (
        SELECT *, CASE WHEN part IS NOT NULL
                       THEN {_ts(o.start)} + to_seconds(CAST({r("at")} % {window} AS BIGINT))
                       ELSE {_outside(s, "u", zones)} END AS due_at
        FROM due
    )
    SELECT printf('c%08d', c) AS customer_id, printf('o%09d', i) AS order_id, due_at,
           CASE WHEN part = 'late' AND fate < 70
                    THEN due_at + to_seconds(CAST(86400 * (1 + {r("days")} % 3)
                                                  + {r("m")} % 3600 AS BIGINT))
                WHEN part = 'late' AND fate < 85
                    THEN due_at + to_seconds(CAST(3600 + {r("m")} % 72000 AS BIGINT))
                WHEN part = 'late' THEN NULL
                WHEN part IS NULL AND fate >= 97
                    THEN due_at + to_seconds(CAST({r("late")} % 172800 + 60 AS BIGINT))
                ELSE due_at - to_seconds(CAST({r("m")} % 14400 AS BIGINT))
           END AS shipped_at
    FROM timed"""


def copy_to(
    con: duckdb.DuckDBPyConnection, query: str, path: Path, instants: tuple[str, ...] = ()
) -> None:
    """Write a query's rows as CSV (instants as ISO-8601 with Z) or Parquet."""
    if path.suffix == ".csv":
        cols = ", ".join(f"strftime({c}, '%Y-%m-%dT%H:%M:%SZ') AS {c}" for c in instants)
        query = f"SELECT * REPLACE ({cols}) FROM ({query})" if instants else query
        con.execute(f"COPY ({query}) TO '{path}' (HEADER, DELIMITER ',')")
    else:
        con.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the demo draws its own
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


@dataclass(frozen=True)
class GeneratedFiles:
    customers: Path
    usage_events: Path
    shipments: Path


def generate(
    s: Scenario, directory: Path, fmt: str = "parquet", threads: int | None = None
) -> GeneratedFiles:
    """Write customers, usage_events and shipments files into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".csv" if fmt == "csv" else ".parquet"
    files = GeneratedFiles(
        customers=directory / f"customers{suffix}",
        usage_events=directory / f"usage_events{suffix}",
        shipments=directory / f"shipments{suffix}",
    )
    con = connect(threads)
    try:
        copy_to(con, customers_sql(s), files.customers)
        copy_to(con, events_sql(s), files.usage_events, ("occurred_at",))
        copy_to(con, shipments_sql(s), files.shipments, ("due_at", "shipped_at"))
    finally:
        con.close()
    return files
