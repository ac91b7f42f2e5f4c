"""DuckDB SQL to Spark SQL: sqlglot's translation, corrected where it changes meaning.

Rules are written once, in DuckDB's dialect (the built-in ones and operators' rule
files). sqlglot translates most of it faithfully; what it does not, measured against
Spark 4.3 with ``spark.sql.session.timeZone=UTC`` (the engine pins it), is rewritten
here on the syntax tree:

- ``json_object(k, v, ...)`` becomes a struct; ``CAST(json_object(...) AS VARCHAR)``
  becomes ``to_json`` of it, keeping nulls, with instants written as DuckDB writes them
  (``2026-03-10 01:36:00.5+00``: trailing zeros of the fraction dropped).
- ``list(x ORDER BY a, b)`` keeps its order (sqlglot drops it): the values are sorted
  by their keys before the keys are dropped. ``list[a:b]`` (1-based, inclusive)
  becomes ``slice``.
- ``timezone(zone, t)`` and ``t AT TIME ZONE zone`` give the local wall-clock time of
  an instant, or the instant of a local time, depending on what ``t`` is; sqlglot always
  does the first. Here ``t`` is local when it comes from such a conversion (or an
  interval added to one) or is a cast to TIMESTAMP; anything else is an instant.
- ``to_days(n)`` (and hours, minutes, seconds) become ``make_dt_interval``;
  ``epoch(t)`` keeps its fraction of a second; ``make_timestamptz`` becomes
  ``make_timestamp``.
"""

from __future__ import annotations

from typing import TypeGuard

import sqlglot
from sqlglot import exp

from makegood.core.errors import InvalidInputError

# DuckDB writes an instant as its UTC text with "+00", a local time without it, each
# with the fraction of a second only when there is one. Spark's to_json is given a
# fixed six-digit fraction, whose trailing zeros (and a bare dot) are then removed.
JSON_OPTIONS = (
    "map('ignoreNullFields', 'false', 'timestampFormat', 'yyyy-MM-dd HH:mm:ss.SSSSSSx', "
    "'timestampNTZFormat', 'yyyy-MM-dd HH:mm:ss.SSSSSS')"
)
TRAILING_ZEROS = r"""'([0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]*?)0+([+]00)?"'"""
BARE_DOT = r"""'([0-9]{2}:[0-9]{2}:[0-9]{2})[.]([+]00)?"'"""
INTERVALS = {"to_days": 0, "to_hours": 1, "to_minutes": 2, "to_seconds": 3}
PART = "__makegood_part_"


class TranslationError(InvalidInputError):
    """DuckDB SQL that has no faithful Spark form here."""


def to_spark(duckdb_sql: str, where: str = "the rule") -> str:
    """The Spark SQL for one DuckDB query."""
    try:
        tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise TranslationError(f"{where}: not valid SQL ({exc})") from None
    return _translate(tree, where).sql(dialect="spark")


def _translate(tree: exp.Expr, where: str) -> exp.Expr:
    # sqlglot does not descend into a node it replaced: each rewrite translates the
    # parts it keeps itself.
    return tree.transform(lambda node: _rewrite(node, where))


def json_text(struct_sql: str) -> str:
    """Spark SQL for the JSON text of a struct, array or map expression, as DuckDB
    writes it."""
    raw = f"to_json({struct_sql}, {JSON_OPTIONS})"
    trimmed = f"""regexp_replace({raw}, {TRAILING_ZEROS}, '$1$2"')"""
    return f"""regexp_replace({trimmed}, {BARE_DOT}, '$1$2"')"""


def _rewrite(node: exp.Expr, where: str) -> exp.Expr:
    if _json_cast_to_text(node):
        return _part(json_text(f"{PART}json"), where, json=node.this)
    if isinstance(node, exp.JSONObject):
        return _struct(node, where)
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        return _ordered_list(node.this, where)
    if isinstance(node, exp.Bracket) and isinstance(node.expressions[0], exp.Slice):
        return _slice(node.this, node.expressions[0], where)
    if isinstance(node, exp.AtTimeZone):
        return _convert(node.args["zone"], node.this, where)
    if isinstance(node, exp.TimeToUnix):
        return _part(f"unix_micros({PART}t) / 1e6", where, t=node.this)
    name = _function_name(node)
    if name == "timezone" and len(node.expressions) == 2:
        zone, value = node.expressions
        return _convert(zone, value, where)
    if name == "make_timestamptz":
        args = [_translate(a, where) for a in node.expressions]
        return exp.Anonymous(this="make_timestamp", expressions=args)
    if name in INTERVALS:
        zeros = ["0"] * INTERVALS[name]
        count = node.this if isinstance(node, exp.ToDays) else node.expressions[0]
        return _part(f"make_dt_interval({', '.join([*zeros, PART + 'n'])})", where, n=count)
    return node


def _json_cast_to_text(node: exp.Expr) -> TypeGuard[exp.Cast]:
    return (
        isinstance(node, exp.Cast)
        and isinstance(node.this, exp.JSONObject)
        and node.to.is_type(*exp.DataType.TEXT_TYPES)
    )


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.ToDays):
        return "to_days"
    return ""


def _struct(node: exp.JSONObject, where: str) -> exp.Expr:
    """named_struct of the pairs, keys as written."""
    args: list[exp.Expr] = []
    for pair in node.expressions:
        key = pair.this if isinstance(pair, exp.JSONKeyValue) else None
        if not isinstance(key, exp.Literal) or not key.is_string:
            raise TranslationError(f"{where}: json_object needs literal text keys on Spark")
        args += [key, _translate(pair.expression, where)]
    return exp.Anonymous(this="named_struct", expressions=args)


def _ordered_list(order: exp.Order, where: str) -> exp.Expr:
    """list(x ORDER BY k1, k2): sort (k1, k2, x) structs, then keep x."""
    keys = order.expressions
    if any(o.args.get("desc") for o in keys):
        raise TranslationError(f"{where}: list(... ORDER BY ... DESC) has no Spark form here")
    fields = [f"'k{i}', {PART}k{i}" for i in range(len(keys))]
    parts = {f"k{i}": o.this for i, o in enumerate(keys)}
    sql = (
        f"transform(array_sort(collect_list(named_struct({', '.join(fields)}, "
        f"'v', {PART}v))), makegood_e -> makegood_e.v)"
    )
    return _part(sql, where, v=order.this, **parts)


def _slice(array: exp.Expr, bounds: exp.Slice, where: str) -> exp.Expr:
    """DuckDB's list[a:b] is 1-based and inclusive at both ends."""
    start = bounds.this if bounds.this is not None else exp.Literal.number(1)
    end = bounds.expression
    if end is None:
        return _part(f"slice({PART}a, {PART}s, size({PART}a))", where, a=array, s=start)
    sql = f"slice({PART}a, {PART}s, {PART}e - {PART}s + 1)"
    return _part(sql, where, a=array, s=start, e=end)


def _convert(zone: exp.Expr, value: exp.Expr, where: str) -> exp.Expr:
    if _is_local(value):
        return _part(f"to_utc_timestamp({PART}t, {PART}z)", where, t=value, z=zone)
    # A local time is a TIMESTAMP_NTZ on Spark, as it is a TIMESTAMP on DuckDB.
    sql = f"CAST(from_utc_timestamp({PART}t, {PART}z) AS TIMESTAMP_NTZ)"
    return _part(sql, where, t=value, z=zone)


def _is_local(value: exp.Expr) -> bool:
    """Whether ``value`` is a wall-clock time (DuckDB TIMESTAMP) rather than an
    instant, as far as the text shows."""
    if isinstance(value, exp.Paren):
        return _is_local(value.this)
    if isinstance(value, exp.AtTimeZone):
        return not _is_local(value.this)
    if _function_name(value) == "timezone" and len(value.expressions) == 2:
        return not _is_local(value.expressions[1])
    if isinstance(value, (exp.Add, exp.Sub)):
        return _is_local(value.this)
    if isinstance(value, exp.Cast):
        return value.to.is_type(exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATETIME)
    return False


def _part(spark_sql: str, where: str, **parts: exp.Expr) -> exp.Expr:
    """A Spark SQL fragment whose ``__makegood_part_NAME`` columns are the given trees,
    themselves translated."""
    tree = sqlglot.parse_one(spark_sql, read="spark")
    for column in list(tree.find_all(exp.Column)):
        if column.name.startswith(PART):
            column.replace(_translate(parts[column.name[len(PART) :]], where))
    return tree
