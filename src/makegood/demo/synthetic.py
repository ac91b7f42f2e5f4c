"""A seeded generator of customers, usage events and shipments at any size.

Everything is produced by DuckDB from ``range()`` and ``hash()`` of the row number
and the seed, so the same seed gives the same files and 100M events take seconds,
not hours. The data carries two outages to recover from: a shipping outage over
most of a Monday and a streaming failure one evening.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

# (locale, time zone, country, currency, region, basic, standard, premium)
PROFILES = (
    ("en-US", "America/New_York", "US", "USD", "na", "7.99", "15.49", "22.99"),
    ("en-US", "America/Chicago", "US", "USD", "na", "7.99", "15.49", "22.99"),
    ("en-US", "America/Los_Angeles", "US", "USD", "na", "7.99", "15.49", "22.99"),
    ("en-CA", "America/Toronto", "CA", "CAD", "na", "9.99", "18.99", "23.99"),
    ("en-GB", "Europe/London", "GB", "GBP", "eu", "5.99", "10.99", "17.99"),
    ("de-DE", "Europe/Berlin", "DE", "EUR", "eu", "7.99", "13.99", "19.99"),
    ("fr-FR", "Europe/Paris", "FR", "EUR", "eu", "7.99", "13.99", "19.99"),
    ("ja-JP", "Asia/Tokyo", "JP", "JPY", "apac", "890", "1590", "2290"),
    ("pt-BR", "America/Sao_Paulo", "BR", "BRL", "latam", "25.90", "44.90", "59.90"),
    ("ar-BH", "Asia/Bahrain", "BH", "BHD", "apac", "2.500", "3.900", "5.200"),
)
# Weights: how many of each 20 customers get each profile.
WEIGHTS = (5, 3, 3, 1, 2, 2, 1, 1, 1, 1)
FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloé",
    "Dmitri",
    "Emma",
    "Farah",
    "Gus",
    "Hana",
    "Ines",
    "José",
    "Kenji",
    "Lena",
    "Malik",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tess",
)
DEVICES = ("tv", "mobile", "web", "console")
SECONDS_PER_WEEK = 7 * 24 * 3600


@dataclass(frozen=True)
class Outage:
    service: str
    start: datetime
    end: datetime
    title: str
    summary: str
    # The summary for customers reading in other languages.
    summaries: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    customers: int = 2_000
    events: int = 40_000
    shipments: int = 1_500
    seed: int = 7
    # Monday 2 February 2026; four weeks of history, then the week of the outages.
    period_start: datetime = datetime(2026, 2, 2, tzinfo=UTC)
    weeks: int = 5
    shipping: Outage = field(
        default_factory=lambda: Outage(
            "shipping",
            datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
            datetime(2026, 3, 3, 2, 0, tzinfo=UTC),
            "Warehouse shipping system down",
            "Our shipping system was down for most of the day, so orders due that day left late.",
            {
                "de": "Unser Versandsystem war fast den ganzen Tag ausgefallen, deshalb gingen "
                "Bestellungen, die an diesem Tag fällig waren, verspätet raus.",
                "fr": "Notre système d’expédition a été en panne presque toute la journée : les "
                "commandes prévues ce jour-là sont parties en retard.",
                "ja": "配送システムがほぼ一日停止し、当日発送予定のご注文に遅れが生じました。",
                "pt": "Nosso sistema de envio ficou fora do ar quase o dia todo, e os pedidos "
                "previstos para aquele dia saíram com atraso.",
                "es": "Nuestro sistema de envíos estuvo caído casi todo el día y los pedidos "
                "previstos para ese día salieron con retraso.",
            },
        )
    )
    streaming: Outage = field(
        default_factory=lambda: Outage(
            "streaming",
            datetime(2026, 3, 5, 0, 30, tzinfo=UTC),
            datetime(2026, 3, 5, 3, 30, tzinfo=UTC),
            "Streaming playback failures",
            "Streaming failed for many members: videos would not start or stopped partway.",
            {
                "de": "Bei vielen Mitgliedern ist das Streaming ausgefallen: Videos starteten "
                "nicht oder brachen mittendrin ab.",
                "fr": "Le streaming a été interrompu pour de nombreux membres : les vidéos ne "
                "démarraient pas ou s’arrêtaient en cours de route.",
                "ja": "多くの会員の方で動画が再生できない、または途中で止まる障害が発生しました。",
                "pt": "O streaming falhou para muitos assinantes: os vídeos não começavam ou "
                "paravam no meio.",
                "es": "El streaming falló para muchos miembros: los vídeos no se iniciaban o se "
                "detenían a mitad.",
            },
        )
    )

    @property
    def period_end(self) -> datetime:
        return self.period_start + timedelta(weeks=self.weeks)


def _ts(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.isoformat()}'"


def _rand(i: str, seed: int, salt: str) -> str:
    """A pseudo-random UBIGINT from the row number, the seed and a salt."""
    return f"CAST(hash({i}, {seed}, '{salt}') >> 1 AS BIGINT)"


def customers_sql(s: Scenario) -> str:
    profile_rows = ", ".join(
        f"({n}, " + ", ".join(f"'{v}'" for v in p) + f", {w})"
        for n, (p, w) in enumerate(zip(PROFILES, WEIGHTS, strict=True))
    )
    names = "[" + ", ".join(f"'{n}'" for n in FIRST_NAMES) + "]"

    def r(salt: str) -> str:
        return _rand("i", s.seed, salt)

    return f"""
    WITH profiles AS (
        SELECT *, sum(weight) OVER (ORDER BY n ROWS UNBOUNDED PRECEDING) - weight AS lo,
               sum(weight) OVER (ORDER BY n ROWS UNBOUNDED PRECEDING) AS hi
        FROM (VALUES {profile_rows}) p(n, locale, tz, country, currency, region, basic, standard,
                                       premium, weight)
    ),
    base AS (
        SELECT range AS i, {r("profile")} % {sum(WEIGHTS)} AS pick, {r("plan")} % 10 AS plan_pick,
               {r("status")} % 100 AS status_pick
        FROM range({s.customers})
    )
    SELECT printf('c%08d', i) AS customer_id,
           printf('member%d@example.com', i) AS email,
           {names}[1 + {r("name")} % {len(FIRST_NAMES)}] AS first_name,
           p.locale, p.tz AS timezone, p.country,
           CASE WHEN status_pick < 90 THEN 'active' WHEN status_pick < 96 THEN 'paused'
                ELSE 'cancelled' END AS status,
           CASE WHEN plan_pick < 4 THEN 'basic' WHEN plan_pick < 8 THEN 'standard'
                ELSE 'premium' END AS plan,
           CASE WHEN plan_pick < 4 THEN p.basic WHEN plan_pick < 8 THEN p.standard
                ELSE p.premium END AS monthly_price,
           p.currency,
           CAST(DATE '{s.streaming.end.date()}' + CAST(1 + {r("bill")} % 30 AS INTEGER)
                AS VARCHAR) AS next_bill_date
    FROM base JOIN profiles p ON base.pick >= p.lo AND base.pick < p.hi
    ORDER BY i"""


def events_sql(s: Scenario) -> str:
    """Half of each habitual customer's events fall in the same weekly slot; outages
    turn events in their window into errors, and some viewers give up (their event
    moves a day later), which is what habitual_usage exists to catch."""

    def r(salt: str) -> str:
        return _rand("i", s.seed, salt)

    def rc(salt: str) -> str:
        return _rand("c", s.seed, salt)

    span = s.weeks * SECONDS_PER_WEEK
    o = s.streaming
    devices = "[" + ", ".join(f"'{d}'" for d in DEVICES) + "]"
    # One entry per weight unit, in profile order: the same pick as customers_sql.
    regions = (
        "["
        + ", ".join(f"'{p[4]}'" for p, w in zip(PROFILES, WEIGHTS, strict=True) for _ in range(w))
        + "]"
    )
    return f"""
    WITH raw AS (
        SELECT range AS i, range % {s.customers} AS c, range // {s.customers} AS j
        FROM range({s.events})
    ),
    timed AS (
        SELECT i, c,
               CASE WHEN {rc("habit")} % 2 = 0 AND {r("kind")} % 2 = 0
                    THEN {_ts(s.period_start)} + to_seconds(CAST(
                         (j % {s.weeks}) * {SECONDS_PER_WEEK} + {rc("slot")} % {SECONDS_PER_WEEK}
                         + {r("jitter")} % 3600 - 1800 AS BIGINT))
                    ELSE {_ts(s.period_start)} + to_seconds(CAST({r("time")} % {span} AS BIGINT))
               END AS t
        FROM raw
    ),
    outage AS (
        SELECT i, c,
               t >= {_ts(o.start)} AND t < {_ts(o.end)} AND {r("svc")} % 10 < 9 AS hit, t
        FROM timed
    )
    SELECT printf('c%08d', c) AS customer_id,
           CASE WHEN hit AND {r("gaveup")} % 10 < 4 THEN t + INTERVAL 1 DAY ELSE t END
               AS occurred_at,
           CASE WHEN {r("svc")} % 10 < 9 THEN 'streaming' ELSE 'browse' END AS service,
           CASE WHEN hit AND {r("err")} % 10 < 8 THEN 'error'
                WHEN NOT hit AND {r("err")} % 1000 < 5 THEN 'error'
                ELSE 'ok' END AS outcome,
           {devices}[1 + {r("device")} % {len(DEVICES)}] AS device,
           {regions}[1 + {rc("profile")} % {sum(WEIGHTS)}] AS region
    FROM outage"""


def shipments_sql(s: Scenario) -> str:
    def r(salt: str) -> str:
        return _rand("i", s.seed, salt)

    span = s.weeks * SECONDS_PER_WEEK
    o = s.shipping
    outage_seconds = int((o.end - o.start).total_seconds())
    return f"""
    WITH due AS (
        SELECT range AS i, {r("customer")} % {s.customers} AS c,
               CASE WHEN {r("day")} % 5 = 0
                    THEN {_ts(o.start)} + to_seconds(CAST({r("due")} % {outage_seconds} AS BIGINT))
                    ELSE {_ts(s.period_start)} + to_seconds(CAST({r("due")} % {span} AS BIGINT))
               END AS due_at
        FROM range({s.shipments})
    ),
    fate AS (
        SELECT *, due_at >= {_ts(o.start)} AND due_at < {_ts(o.end)} AS hit, {r("fate")} % 100 AS f
        FROM due
    )
    SELECT printf('c%08d', c) AS customer_id, printf('o%09d', i) AS order_id, due_at,
           CASE WHEN hit AND f < 70
                    THEN due_at + to_seconds(CAST(86400 * (1 + {r("late")} % 3) + {r("m")} % 3600
                                                  AS BIGINT))
                WHEN hit AND f < 80 THEN NULL
                WHEN NOT hit AND f >= 97
                    THEN due_at + to_seconds(CAST({r("late")} % 172800 + 60 AS BIGINT))
                ELSE due_at - to_seconds(CAST({r("m")} % 14400 AS BIGINT))
           END AS shipped_at
    FROM fate"""


def _copy(
    con: duckdb.DuckDBPyConnection, query: str, path: Path, instants: tuple[str, ...]
) -> None:
    if path.suffix == ".csv":
        # Text files carry instants as ISO-8601 with Z, as the data contract asks.
        cols = ", ".join(f"strftime({c}, '%Y-%m-%dT%H:%M:%SZ') AS {c}" for c in instants)
        query = f"SELECT * REPLACE ({cols}) FROM ({query})" if instants else query
        con.execute(f"COPY ({query}) TO '{path}' (HEADER, DELIMITER ',')")
    else:
        con.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")


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
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    suffix = ".csv" if fmt == "csv" else ".parquet"
    files = GeneratedFiles(
        customers=directory / f"customers{suffix}",
        usage_events=directory / f"usage_events{suffix}",
        shipments=directory / f"shipments{suffix}",
    )
    _copy(con, customers_sql(s), files.customers, ())
    _copy(con, events_sql(s), files.usage_events, ("occurred_at",))
    _copy(con, shipments_sql(s), files.shipments, ("due_at", "shipped_at"))
    con.close()
    return files
