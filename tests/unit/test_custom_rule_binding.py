from datetime import UTC, datetime

import duckdb
import pytest

from makegood.core.errors import InvalidInputError
from makegood.impact.rules import CustomRule, Window, bind_custom_rule

W = Window(
    start=datetime(2026, 3, 10, 0, 30, tzinfo=UTC),
    end=datetime(2026, 3, 10, 2, 30, tzinfo=UTC),
    now=datetime(2026, 3, 12, tzinfo=UTC),
    services=("streaming", "music"),
)


def bound(sql: str) -> str:
    return bind_custom_rule(CustomRule("r", __import__("pathlib").Path("r.sql"), sql), W)


def test_start_end_and_now_become_instants():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    row = con.execute(
        f"SELECT epoch(x), epoch(y), epoch(z) FROM ({bound('SELECT :start AS x, :end AS y, :now AS z')})"
    ).fetchall()[0]
    assert row == (W.start.timestamp(), W.end.timestamp(), W.now.timestamp())


def test_services_in_a_list_and_as_an_array_both_work():
    con = duckdb.connect()
    sql = bound(
        "SELECT count(*) AS n FROM (VALUES ('streaming'), ('music'), ('browse')) t(s) "
        "WHERE s IN :services AND list_contains(:services, s)"
    )
    assert con.execute(sql).fetchall() == [(2,)]


def test_unknown_parameter_is_named():
    with pytest.raises(InvalidInputError, match=":region"):
        bound("SELECT * FROM usage_events WHERE region = :region")


def test_more_than_one_statement_is_refused():
    with pytest.raises(InvalidInputError, match="exactly one SELECT"):
        bound("SELECT 1; DROP TABLE customers")


def test_a_literal_that_looks_like_a_parameter_is_left_alone():
    con = duckdb.connect()
    assert con.execute(bound("SELECT ':start' AS s")).fetchall() == [(":start",)]
