"""Bad customers files and too long texts, on SQLite and PostgreSQL alike: refused
before anything is written, every problem named by file, row, line and column."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from makegood.core.errors import InvalidInputError
from makegood.customers.models import Customer
from makegood.customers.service import MAX_LISTED, import_customers
from makegood.db.uow import UnitOfWork
from makegood.incidents.models import Incident
from makegood.incidents.service import Declaration, declare
from makegood.sources.service import add_source
from tests.conftest import NOW
from tests.support.files import HEADER, customer, write_csv
from tests.support.ports import CHECK, IMPACT


def count(engine, model=Customer) -> int:
    with UnitOfWork(engine) as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def refused(engine, path) -> InvalidInputError:
    with UnitOfWork(engine) as uow, pytest.raises(InvalidInputError) as caught:
        import_customers(uow.session, path, NOW)
    return caught.value


def line(row: dict[str, str]) -> str:
    return ",".join(row[c] for c in HEADER)


def test_overlong_fields_are_refused_alike_on_sqlite_and_postgresql(engine, tmp_path):
    path = write_csv(
        tmp_path / "long.csv",
        [customer("ok"), customer("c" * 100_002, first_name="y" * 1_000_000, plan="p" * 101)],
    )
    error = refused(engine, path)
    assert error.problems == [
        "long.csv, row 2 (line 3), column email: is 100,014 characters long; at most 320 fit",
        "long.csv, row 2 (line 3), column customer_id: is 100,002 characters long; at most 200 fit",
        "long.csv, row 2 (line 3), column first_name: is 1,000,000 characters long; "
        "at most 200 fit",
        "long.csv, row 2 (line 3), column plan: is 101 characters long; at most 100 fit",
    ]
    assert count(engine) == 0


def test_a_duplicate_id_is_reported_with_every_other_problem(engine, tmp_path):
    path = write_csv(
        tmp_path / "dups.csv",
        [
            customer("c1"),
            customer("c2", country="ZZ"),
            customer("c1", email="not-an-email"),  # a duplicate on a bad row too
            customer("c2"),
        ],
    )
    assert refused(engine, path).problems == [
        "dups.csv, row 2 (line 3), column country: 'ZZ' is not an ISO 3166-1 alpha-2 country "
        "code like US",
        "dups.csv, row 3 (line 4), column email: 'not-an-email' is not a valid email address "
        "(An email address must have an @-sign.)",
        "dups.csv, row 3 (line 4), column customer_id: 'c1' already appears in row 1",
        "dups.csv, row 4 (line 5), column customer_id: 'c2' already appears in row 2",
    ]
    assert count(engine) == 0


def test_rows_the_parser_cannot_split_are_named_and_the_rest_still_checked(engine, tmp_path):
    rows = [
        line(customer("c1")),
        line(customer("c2"))[: -len(",2026-04-01")],  # 10 fields
        line(customer("c3", timezone="Moon/Base")),
        line(customer("c4")) + ",extra",  # 12 fields
        line(customer("c5")),
    ]
    path = tmp_path / "uneven.csv"
    path.write_text(",".join(HEADER) + "\n" + "\n".join(rows) + "\n")
    assert refused(engine, path).problems == [
        "uneven.csv, row 2 (line 3): has 10 fields; the header has 11",
        "uneven.csv, row 3 (line 4), column timezone: 'Moon/Base' is not an IANA time zone "
        "like America/New_York",
        "uneven.csv, row 4 (line 5): has 12 fields; the header has 11",
    ]
    assert count(engine) == 0


def test_lines_count_quoted_line_breaks_and_blank_lines(engine, tmp_path):
    first = customer("c1", first_name='"Ann\nMarie"')
    path = tmp_path / "lines.csv"
    path.write_text(
        ",".join(HEADER)
        + "\n"
        + line(first)
        + "\n\n"
        + line(customer("c2", status="gone"))
        + "\n"
        + line(customer("c3", currency="XYZ"))
        + "\n"
    )
    assert refused(engine, path).problems == [
        "lines.csv, row 2 (line 5), column status: 'gone' is not a status; use one of "
        "active, paused, cancelled",
        "lines.csv, row 3 (line 6), column currency: 'XYZ' is not an ISO 4217 currency code",
    ]


def test_bytes_that_are_not_utf8_name_the_row_and_the_column(engine, tmp_path):
    path = tmp_path / "latin1.csv"
    good = line(customer("c1")).encode()
    bad = line(customer("c2", first_name="Zoë", timezone="Mars/Base")).encode("latin-1")
    path.write_bytes(",".join(HEADER).encode() + b"\n" + good + b"\n" + bad + b"\n")
    assert refused(engine, path).problems == [
        "latin1.csv, row 2 (line 3), column first_name: is not UTF-8 text (byte 3 of the value)",
        "latin1.csv, row 2 (line 3), column timezone: 'Mars/Base' is not an IANA time zone "
        "like America/New_York",
    ]
    assert count(engine) == 0


def test_a_parquet_file_gets_rows_and_no_lines(engine, tmp_path):
    rows = [customer("p1"), customer("p2", country="EU")]
    path = tmp_path / "customers.parquet"
    pq.write_table(pa.table({k: [r[k] for r in rows] for k in HEADER}), path)
    assert refused(engine, path).problems == [
        "customers.parquet, row 2, column country: 'EU' is not an ISO 3166-1 alpha-2 country "
        "code like US"
    ]


def test_the_first_problems_are_listed_and_the_rest_counted(engine, tmp_path):
    rows = [customer(f"c{i}", country="ZZ", status="gone") for i in range(40)]
    rows += [customer("c0")]  # a duplicate of row 1, after 80 other problems
    path = write_csv(tmp_path / "many.csv", rows)
    error = refused(engine, path)
    assert "81 problems found" in error.message
    assert len(error.problems) == MAX_LISTED + 1
    assert error.problems[0].startswith("many.csv, row 1 (line 2), column country")
    assert error.problems[-1] == f"... and {81 - MAX_LISTED} more problems"


def test_too_long_texts_of_other_inputs_are_refused_before_writing(engine):
    start = datetime(2026, 3, 9, 5, tzinfo=UTC)
    declaration = Declaration(services=["shipping"], start=start, end=None, title="t" * 201)
    with UnitOfWork(engine) as uow, pytest.raises(InvalidInputError) as caught:
        declare(uow.session, declaration, NOW, "someone")
    assert caught.value.problems == ["incidents.title is 201 characters long; at most 200 fit"]
    assert count(engine, Incident) == 0


def test_a_source_with_customer_ids_no_table_holds_is_refused(engine, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "customer_id,occurred_at,service,outcome,device,region\n"
        f"{'c' * 201},2026-03-01T10:00:00Z,streaming,ok,tv,us\n"
    )
    with UnitOfWork(engine) as uow, pytest.raises(InvalidInputError) as caught:
        add_source(uow.session, "usage_events", str(path), NOW, "t", **CHECK)
    assert any(
        "column customer_id is longer than 200 characters" in p and "row 1" in p
        for p in caught.value.problems
    )


def test_impact_on_a_company_without_customers_is_a_refusal_not_a_traceback(engine):
    from makegood.core.errors import MakegoodError
    from makegood.impact.service import run_impact

    start = datetime(2026, 3, 9, 5, tzinfo=UTC)
    with UnitOfWork(engine) as uow:
        incident = declare(
            uow.session,
            Declaration(services=["shipping"], start=start, end=start.replace(hour=9), title="t"),
            NOW,
            "t",
        )
        with pytest.raises(MakegoodError, match="needs shipments data"):
            run_impact(uow.session, incident.id, NOW, "t", **IMPACT)
