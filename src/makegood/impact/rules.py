"""The built-in impact rules as SQL, and the binding of custom rule files.

Pure text building: no connection here. Values are inlined as typed literals
(instants from validated datetimes, names that passed the lowercase-name check),
so the same SQL can later be translated for Spark.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.dialects.duckdb import DuckDB

from makegood.core.errors import InvalidInputError

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


def failed_usage(w: Window) -> str:
    """At least one error event for an affected service in the window: confirmed."""
    return f"""
    SELECT customer_id, 'confirmed' AS confidence, count(*) AS magnitude,
           'failed_usage' AS rule,
           CAST(json_object(
               'rule', 'failed_usage', 'errors', count(*),
               'services', list_sort(list(DISTINCT service)),
               'first_error_at', min(occurred_at), 'last_error_at', max(occurred_at))
               AS VARCHAR) AS evidence
    FROM usage_events
    WHERE {in_window(w, "occurred_at")} AND outcome = 'error' AND {usage_scope(w)}
    GROUP BY customer_id"""


def habit_weeks(w: Window) -> str:
    """Per customer time zone, the four earlier windows at the same local wall-clock
    time 1-4 weeks before: across a DST change they are not 168 hours apart."""
    return f"""
    SELECT z.timezone, k.k,
           timezone(z.timezone, timezone(z.timezone, {instant(w.start)}) - to_days(7 * k.k))
               AS week_start,
           timezone(z.timezone, timezone(z.timezone, {instant(w.end)}) - to_days(7 * k.k))
               AS week_end
    FROM (SELECT DISTINCT timezone FROM customers) z
    CROSS JOIN (SELECT CAST(range AS INTEGER) AS k FROM range(1, 5)) k"""


def habitual_usage(w: Window, coarse: list[tuple[datetime, datetime]]) -> str:
    """No event in the window, but events in >= 2 of the 4 earlier windows: possible.

    ``coarse`` bounds each earlier week over all zones, so the scan can skip the
    hours in between before the exact per-zone test.
    """
    ranges = (
        " OR ".join(
            f"(e.occurred_at >= {instant(lo)} AND e.occurred_at < {instant(hi)})"
            for lo, hi in coarse
        )
        or "FALSE"
    )
    return f"""
    SELECT h.customer_id, 'possible' AS confidence, {w.minutes} AS magnitude,
           'habitual_usage' AS rule,
           CAST(json_object(
               'rule', 'habitual_usage', 'services', list_sort(list(h.service)),
               'weeks_before_with_use', list_sort(flatten(list(h.weeks))))
               AS VARCHAR) AS evidence
    FROM (
        SELECT e.customer_id, e.service, list(DISTINCT wk.k) AS weeks
        FROM usage_events e
        JOIN customers c ON c.customer_id = e.customer_id
        JOIN habit_weeks wk ON wk.timezone = c.timezone
             AND e.occurred_at >= wk.week_start AND e.occurred_at < wk.week_end
        WHERE ({ranges}) AND {usage_scope(w, "e")}
        GROUP BY e.customer_id, e.service
        HAVING count(DISTINCT wk.k) >= 2
    ) h
    ANTI JOIN (
        SELECT DISTINCT customer_id, service FROM usage_events
        WHERE {in_window(w, "occurred_at")} AND {usage_scope(w)}
    ) d ON d.customer_id = h.customer_id AND d.service = h.service
    GROUP BY h.customer_id"""


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
    """The custom rule's rows in the shape every rule yields, evidence as JSON."""
    inner = bind_custom_rule(rule, w)
    name = rule.name.replace("'", "''")
    return f"""
    SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(confidence AS VARCHAR) AS confidence,
           TRY_CAST(magnitude AS BIGINT) AS magnitude, '{name}' AS rule,
           CAST(json_object('rule', '{name}', 'detail',
                CASE WHEN json_valid(CAST(evidence AS VARCHAR)) THEN json(CAST(evidence AS VARCHAR))
                     ELSE to_json(CAST(evidence AS VARCHAR)) END) AS VARCHAR) AS evidence,
           {rank} AS rule_rank
    FROM ({inner})"""
