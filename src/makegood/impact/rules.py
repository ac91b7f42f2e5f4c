"""The built-in impact rules as SQL, and the binding of custom rule files.

Pure text building: no connection here. Values are inlined as typed literals
(instants from validated datetimes, names that passed the lowercase-name check),
so the same SQL can later be translated for Spark.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.dialects.duckdb import DuckDB

from makegood.core.errors import InvalidInputError
from makegood.core.words import counted

SHIPPING = "shipping"
CONFIDENCE_RANK = {"confirmed": 0, "possible": 1}
BOUND = ("start", "end", "services", "now")
MARK = "__makegood_param_"


@dataclass(frozen=True)
class Window:
    """What an impact rule needs to know about the incident, all UTC."""

    start: datetime
    end: datetime
    now: datetime
    services: tuple[str, ...]
    regions: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()

    @property
    def usage_services(self) -> tuple[str, ...]:
        return tuple(s for s in self.services if s != SHIPPING)

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds()) // 60


def instant(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat()}'"


def names(values: tuple[str, ...]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def usage_scope(w: Window, alias: str = "") -> str:
    """Filter on the incident's services, and its regions and devices when it names any."""
    p = f"{alias}." if alias else ""
    parts = [f"{p}service IN {names(w.usage_services)}"]
    if w.regions:
        parts.append(f"{p}region IN {names(w.regions)}")
    if w.devices:
        parts.append(f"{p}device IN {names(w.devices)}")
    return " AND ".join(parts)


def in_window(w: Window, column: str) -> str:
    return f"{column} >= {instant(w.start)} AND {column} < {instant(w.end)}"


def late_shipment(w: Window) -> str:
    """Due in the window and shipped after due (or not shipped by now): confirmed."""
    now = instant(w.now)
    return f"""
    SELECT customer_id, 'confirmed' AS confidence,
           max(greatest(1, date_diff('second', due_at, coalesce(shipped, {now})) // 86400))
               AS magnitude,
           'late_shipment' AS rule,
           CAST(json_object(
               'rule', 'late_shipment', 'late_orders', count(*),
               'orders', list(json_object('order_id', order_id, 'due_at', due_at,
                                          'shipped_at', shipped)
                              ORDER BY due_at, order_id)[1:5]) AS VARCHAR) AS evidence
    FROM (
        SELECT customer_id, order_id, due_at,
               CASE WHEN shipped_at <= {now} THEN shipped_at END AS shipped
        FROM shipments
        WHERE {in_window(w, "due_at")}
    )
    WHERE shipped IS NULL OR shipped > due_at
    GROUP BY customer_id"""


# How far a zone's earlier week can sit from the same UTC hours: DST moves clocks by
# up to two hours (Antarctica/Troll), so a three-hour margin keeps every zone inside
# the coarse ranges that let the scan skip the rest of the month.
DST_MARGIN = timedelta(hours=3)


def usage_rules(w: Window) -> str:
    """failed_usage and habitual_usage in one pass over the usage events.

    failed_usage: at least one error for an affected service in the window, confirmed,
    magnitude = errors. habitual_usage: no event for the service in the window, but
    events in at least 2 of the 4 windows 1-4 weeks earlier at the same local
    wall-clock time in the customer's zone (across a DST change they are not 168
    hours apart), possible, magnitude = the window's minutes.
    """
    earlier = " OR ".join(
        f"(occurred_at >= {instant(w.start - timedelta(weeks=k) - DST_MARGIN)} "
        f"AND occurred_at < {instant(w.end - timedelta(weeks=k) + DST_MARGIN)})"
        for k in range(1, 5)
    )
    window = in_window(w, "occurred_at")
    return f"""
    WITH {_weeks_cte(w)},
    ev AS (
        SELECT customer_id, service, occurred_at, outcome FROM usage_events
        WHERE {usage_scope(w)} AND (({window}) OR {earlier})
    ),
    during AS (
        SELECT customer_id, service,
               count(*) FILTER (WHERE outcome = 'error') AS errors,
               min(occurred_at) FILTER (WHERE outcome = 'error') AS first_error,
               max(occurred_at) FILTER (WHERE outcome = 'error') AS last_error
        FROM ev WHERE {window}
        GROUP BY customer_id, service
    ),
    failed AS (
        SELECT customer_id, sum(errors) AS errors, list_sort(list(service)) AS services,
               min(first_error) AS first_error, max(last_error) AS last_error
        FROM during WHERE errors > 0
        GROUP BY customer_id
    ),
    {_habitual_cte()}
    SELECT customer_id, 'confirmed' AS confidence, CAST(errors AS BIGINT) AS magnitude,
           'failed_usage' AS rule,
           CAST(json_object('rule', 'failed_usage', 'errors', errors, 'services', services,
                            'first_error_at', first_error, 'last_error_at', last_error)
                AS VARCHAR) AS evidence
    FROM failed
    UNION ALL
    SELECT customer_id, 'possible', {w.minutes}, 'habitual_usage',
           CAST(json_object('rule', 'habitual_usage', 'services', services,
                            'weeks_before_with_use', weeks) AS VARCHAR)
    FROM habitual"""


def _weeks_cte(w: Window) -> str:
    """The windows 1-4 weeks earlier at the same wall-clock time in each customer zone."""
    return f"""weeks AS (
        SELECT z.timezone, k.k,
               timezone(z.timezone, timezone(z.timezone, {instant(w.start)}) - to_days(7 * k.k))
                   AS week_start,
               timezone(z.timezone, timezone(z.timezone, {instant(w.end)}) - to_days(7 * k.k))
                   AS week_end
        FROM (SELECT DISTINCT timezone FROM customers) z
        CROSS JOIN (VALUES (1), (2), (3), (4)) AS k(k)
    )"""


def _habitual_cte() -> str:
    """Customers with use in at least 2 earlier weeks and none during the window."""
    return """habitual AS (
        SELECT h.customer_id, list_sort(list(h.service)) AS services,
               list_sort(flatten(list(h.weeks))) AS weeks
        FROM (
            SELECT e.customer_id, e.service, list(DISTINCT wk.k) AS weeks
            FROM ev e
            JOIN customers c ON c.customer_id = e.customer_id
            JOIN weeks wk ON wk.timezone = c.timezone
                 AND e.occurred_at >= wk.week_start AND e.occurred_at < wk.week_end
            GROUP BY e.customer_id, e.service
            HAVING count(DISTINCT wk.k) >= 2
        ) h
        ANTI JOIN during d ON d.customer_id = h.customer_id AND d.service = h.service
        GROUP BY h.customer_id
    )"""


@dataclass(frozen=True)
class CustomRule:
    name: str
    path: Path
    sql: str


def load_custom_rule(path: Path) -> CustomRule:
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such rule file")
    return CustomRule(name=path.stem, path=path, sql=path.read_text(encoding="utf-8"))


def _mark_parameters(rule: CustomRule) -> str:
    """Swap each ``:name`` for a marker identifier, using DuckDB's own tokenizer so
    strings, comments and ``::`` casts are never touched."""
    try:
        tokens = DuckDB().tokenize(rule.sql)
    except sqlglot.errors.TokenError as exc:
        raise InvalidInputError(f"{rule.path}: not valid SQL ({exc})") from None
    text, shift = rule.sql, 0
    for colon, word in pairwise(tokens):
        if colon.token_type != TokenType.COLON or word.start != colon.end + 1:
            continue
        if not word.text.isidentifier():
            continue
        name = word.text.lower()
        if name not in BOUND:
            raise InvalidInputError(
                f"{rule.path}: unknown parameter :{word.text}; rules may use "
                + ", ".join(":" + b for b in BOUND)
            )
        marker = f"{MARK}{name}__"
        text = text[: colon.start + shift] + marker + text[word.end + 1 + shift :]
        shift += len(marker) - (word.end + 1 - colon.start)
    return text


def bind_custom_rule(rule: CustomRule, w: Window) -> str:
    """Replace :start, :end, :now and :services with literals; returns DuckDB SQL.

    ``x IN :services`` becomes a list of names; anywhere else :services is an array.
    """
    try:
        statements = [s for s in sqlglot.parse(_mark_parameters(rule), read="duckdb") if s]
    except sqlglot.errors.ParseError as exc:
        raise InvalidInputError(f"{rule.path}: not valid SQL ({exc})") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise InvalidInputError(f"{rule.path}: must hold exactly one SELECT query")
    tree = statements[0]
    values: dict[str, exp.Expression] = {
        name: exp.cast(exp.Literal.string(getattr(w, name).isoformat()), "TIMESTAMPTZ")
        for name in ("start", "end", "now")
    }
    services = [exp.Literal.string(s) for s in w.services]
    for column in list(tree.find_all(exp.Column)):
        if not column.name.startswith(MARK):
            continue
        name = column.name[len(MARK) : -2]
        parent = column.parent
        if name != "services":
            column.replace(values[name].copy())
        elif isinstance(parent, exp.In) and column.arg_key == "field":
            parent.set("field", None)
            parent.set("expressions", [v.copy() for v in services])
        else:
            column.replace(exp.Array(expressions=[v.copy() for v in services]))
    return tree.sql(dialect="duckdb")


def custom_rule_select(rule: CustomRule, w: Window, rank: int) -> str:
    """The custom rule's rows in the shape every rule yields, evidence as JSON (DuckDB)."""
    name = rule.name.replace("'", "''")
    text = "CAST(evidence AS VARCHAR)"
    detail = detail_prefix(rule).replace("'", "''")
    return f"""
    SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(confidence AS VARCHAR) AS confidence,
           TRY_CAST(magnitude AS BIGINT) AS magnitude, '{name}' AS rule,
           CASE WHEN json_valid({text}) THEN '{detail}' || {text} || '}}'
                ELSE CAST(json_object('rule', '{name}', 'detail', {text}) AS VARCHAR) END
               AS evidence,
           {rank} AS rule_rank
    FROM ({bind_custom_rule(rule, w)})"""


def detail_prefix(rule: CustomRule) -> str:
    """A custom rule's evidence is {"rule": NAME, "detail": ...}; evidence the rule gives
    as JSON text goes in as written, so every engine stores the same text."""
    return '{"rule":' + json.dumps(rule.name, ensure_ascii=False) + ',"detail":'


def custom_rule_check(rank: int, table: str = "matches") -> str:
    """Counts of a custom rule's bad rows among ``table``'s (DuckDB SQL)."""
    return f"""
    SELECT count(*) FILTER (WHERE customer_id IS NULL OR customer_id = ''),
           count(*) FILTER (WHERE confidence NOT IN ('confirmed', 'possible')
                            OR confidence IS NULL),
           count(*) FILTER (WHERE magnitude IS NULL OR magnitude < 0),
           min(confidence) FILTER (WHERE confidence NOT IN ('confirmed', 'possible'))
    FROM {table} WHERE rule_rank = {rank}"""


def refuse_bad_rows(rule: CustomRule, found: Sequence[Any]) -> None:
    """Raise naming what is wrong with the rule's rows, from ``custom_rule_check``."""
    problems = []
    if found[0]:
        problems.append(f"{counted(found[0], 'row')} without a customer_id")
    if found[1]:
        problems.append(
            f"{counted(found[1], 'row')} with a confidence other than confirmed or possible "
            f"(e.g. {found[3]!r})"
        )
    if found[2]:
        problems.append(
            f"{counted(found[2], 'row')} with a magnitude that is not a whole number >= 0"
        )
    if problems:
        raise InvalidInputError(f"{rule.path}: the rule returned bad rows", problems)
