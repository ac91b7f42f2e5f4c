from __future__ import annotations

import re
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from makegood.core.errors import InvalidInputError
from makegood.customers.models import Customer
from makegood.customers.service import import_customers
from makegood.db.uow import UnitOfWork
from tests.conftest import NOW
from tests.support.files import HEADER, customer, write_csv


def count(engine) -> int:
    with UnitOfWork(engine) as uow:
        return uow.session.scalar(select(func.count()).select_from(Customer)) or 0


def run_import(engine, path):
    with UnitOfWork(engine) as uow:
        result = import_customers(uow.session, path, NOW)
        uow.commit()
    return result


def test_import_stores_every_field_with_money_in_minor_units(engine, tmp_path):
    path = write_csv(
        tmp_path / "customers.csv",
        [
            customer("c1"),
            customer(
                "c2",
                currency="JPY",
                monthly_price="1200",
                timezone="Asia/Tokyo",
                locale="ja-JP",
                country="JP",
            ),
            customer("c3", currency="BHD", monthly_price="2.500", first_name="", plan=""),
        ],
    )
    result = run_import(engine, path)
    assert (result.imported, result.updated) == (3, 0)
    with UnitOfWork(engine) as uow:
        rows = {c.customer_id: c for c in uow.session.scalars(select(Customer))}
    assert rows["c1"].monthly_price_minor == 899
    assert rows["c2"].monthly_price_minor == 1200
    assert rows["c3"].monthly_price_minor == 2500
    assert rows["c1"].next_bill_date == date(2026, 4, 1)
    assert rows["c2"].timezone == "Asia/Tokyo"
    assert rows["c1"].created_at == NOW


def test_reimport_upserts_by_customer_id(engine, tmp_path):
    run_import(engine, write_csv(tmp_path / "a.csv", [customer("c1"), customer("c2")]))
    result = run_import(
        engine,
        write_csv(
            tmp_path / "b.csv",
            [
                customer("c2", status="cancelled", monthly_price="9.99"),
                customer("c3"),
            ],
        ),
    )
    assert (result.imported, result.updated) == (1, 1)
    assert count(engine) == 3
    with UnitOfWork(engine) as uow:
        c2 = uow.session.get(Customer, "c2")
    assert c2 is not None
    assert (c2.status, c2.monthly_price_minor) == ("cancelled", 999)


def test_billing_ids_are_imported_and_kept_by_a_file_without_them(engine, tmp_path):
    header = [*HEADER, "billing_id"]
    rows = [customer("c1", billing_id="cus_A1"), customer("c2", billing_id="")]
    run_import(engine, write_csv(tmp_path / "a.csv", rows, header))
    run_import(engine, write_csv(tmp_path / "b.csv", [customer("c1", plan="gold")]))
    run_import(engine, write_csv(tmp_path / "c.csv", [customer("c2", billing_id="cus_B2")], header))
    with UnitOfWork(engine) as uow:
        found = {
            c.customer_id: (c.billing_id, c.plan) for c in uow.session.scalars(select(Customer))
        }
    assert found == {"c1": ("cus_A1", "gold"), "c2": ("cus_B2", "basic")}


def test_phones_and_channels_are_imported_checked_and_kept_by_a_file_without_them(engine, tmp_path):
    header = [*HEADER, "phone", "channel"]
    rows = [
        customer("c1", phone="+1 415 555 0123", channel="sms, email"),
        customer("c2", phone="+81 90-1234-5678", channel="sms"),
        customer("c3", phone="", channel=""),
    ]
    run_import(engine, write_csv(tmp_path / "a.csv", rows, header))
    run_import(engine, write_csv(tmp_path / "b.csv", [customer("c2", plan="gold")]))
    with UnitOfWork(engine) as uow:
        found = {
            c.customer_id: (c.phone, c.channel, c.plan)
            for c in uow.session.scalars(select(Customer))
        }
    assert found == {
        "c1": ("+14155550123", "email,sms", "basic"),
        "c2": ("+819012345678", "sms", "gold"),
        "c3": (None, None, "basic"),
    }
    bad = write_csv(
        tmp_path / "bad.csv",
        [
            customer("c4", phone="415 555 0123", channel="email"),
            customer("c5", phone="+1 555", channel="email"),
            customer("c6", phone="", channel="sms"),
            customer("c7", phone="+14155550123", channel="pigeon"),
        ],
        header,
    )
    with pytest.raises(InvalidInputError) as caught:
        run_import(engine, bad)
    said = str(caught.value)
    for row, column, words in [
        (1, "phone", "E.164"),
        (2, "phone", "not a valid number"),
        (3, "phone", "channel says sms"),
        (4, "channel", "email, sms or email,sms"),
    ]:
        assert re.search(rf"row {row}\b.*{column}.*{re.escape(words)}", said), (row, said)
    assert count(engine) == 3


def test_several_bad_rows_are_all_named_and_nothing_is_written(engine, tmp_path):
    run_import(engine, write_csv(tmp_path / "first.csv", [customer("keep", plan="basic")]))
    path = write_csv(
        tmp_path / "customers.csv",
        [
            customer("c1"),
            customer("c2", email="not-an-email"),
            customer("c3"),
            customer("c4", currency="USD", monthly_price="8.999", timezone="Moon/Base"),
            customer("keep", plan="premium"),  # valid, and would update: must not
            customer("c6", next_bill_date="2026-13-01"),
        ],
    )
    with pytest.raises(InvalidInputError) as caught:
        run_import(engine, path)
    problems = caught.value.problems
    assert len(problems) == 4
    assert "customers.csv, row 2 (line 3), column email" in problems[0]
    assert any("row 4 (line 5), column monthly_price" in p and "8.999" in p for p in problems)
    assert any("row 4 (line 5), column timezone" in p and "Moon/Base" in p for p in problems)
    assert any("row 6 (line 7), column next_bill_date" in p for p in problems)
    assert "4 problems found" in caught.value.message
    assert count(engine) == 1
    with UnitOfWork(engine) as uow:
        kept = uow.session.get(Customer, "keep")
    assert kept is not None and kept.plan == "basic"


def test_duplicate_ids_in_one_file_are_an_error(engine, tmp_path):
    path = write_csv(tmp_path / "dups.csv", [customer("c1"), customer("c2"), customer("c1")])
    with pytest.raises(
        InvalidInputError,
        match=r"row 3 \(line 4\), column customer_id: 'c1' already appears in row 1",
    ):
        run_import(engine, path)
    assert count(engine) == 0


def test_missing_columns_are_named(engine, tmp_path):
    path = write_csv(
        tmp_path / "short.csv", [customer("c1")], header=["customer_id", "email", "locale"]
    )
    with pytest.raises(InvalidInputError, match="missing column.*timezone.*currency"):
        run_import(engine, path)


def test_parquet_import_with_decimal_prices(engine, tmp_path):
    path = tmp_path / "customers.parquet"
    rows = [customer("p1"), customer("p2", monthly_price="15.49")]
    table = pa.table({k: [r[k] for r in rows] for k in rows[0]})
    table = table.set_column(
        table.column_names.index("monthly_price"),
        "monthly_price",
        pa.array(
            [__import__("decimal").Decimal(r["monthly_price"]) for r in rows], pa.decimal128(10, 2)
        ),
    )
    pq.write_table(table, path)
    result = run_import(engine, path)
    assert (result.imported, result.updated) == (2, 0)
    with UnitOfWork(engine) as uow:
        p2 = uow.session.get(Customer, "p2")
    assert p2 is not None and p2.monthly_price_minor == 1549


def test_parquet_with_float_prices_is_refused(engine, tmp_path):
    path = tmp_path / "floaty.parquet"
    rows = [customer("f1")]
    table = pa.table({k: [r[k] for r in rows] for k in rows[0]})
    table = table.set_column(
        table.column_names.index("monthly_price"), "monthly_price", pa.array([8.99], pa.float64())
    )
    pq.write_table(table, path)
    with pytest.raises(InvalidInputError, match="monthly_price is stored as a floating-point"):
        run_import(engine, path)
    assert count(engine) == 0


def test_parquet_errors_name_rows_without_csv_lines(engine, tmp_path):
    path = tmp_path / "bad.parquet"
    rows = [customer("b1"), customer("b2", status="gone")]
    pq.write_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), path)
    with pytest.raises(InvalidInputError, match=r"bad.parquet, row 2, column status"):
        run_import(engine, path)
