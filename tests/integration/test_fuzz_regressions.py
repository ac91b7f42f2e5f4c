"""Inputs the fuzzer (chaos/fuzz.py) found mishandled, each kept here as it was found:
a clear error that names the place, never a crash, and nothing written."""

from __future__ import annotations

import os
import re
import sys
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from makegood.access.service import create_key
from makegood.config import Settings
from makegood.core.errors import ConfigurationError, InvalidInputError
from makegood.customers.models import Customer
from makegood.customers.service import import_customers
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.kits.cli.context import load_settings
from makegood.policy.rules import CustomerFacts, IncidentFacts, decide
from makegood.policy.schema import parse_policy
from makegood.policy.seed import seed_policy_text
from tests.conftest import NOW
from tests.support.files import HEADER, customer
from tests.support.world import SECRET

ROW = ",".join(customer("c1")[c] for c in HEADER)
STREAMING = IncidentFacts(("streaming",), "major", None, 120)
PAYING = CustomerFacts("active", "US", "basic", 899, "USD", 31)


def imported(engine, path) -> int:
    with UnitOfWork(engine) as uow:
        result = import_customers(uow.session, path, NOW)
        uow.commit()
    return result.imported


def customers(engine) -> int:
    with UnitOfWork(engine) as uow:
        return uow.session.scalar(select(func.count()).select_from(Customer)) or 0


def refused(engine, path) -> InvalidInputError:
    before = customers(engine)
    with UnitOfWork(engine) as uow, pytest.raises(InvalidInputError) as caught:
        import_customers(uow.session, path, NOW)
    assert customers(engine) == before
    return caught.value


def test_a_header_without_a_line_end_is_an_empty_file(engine, tmp_path):
    # Was: "cannot be read (CSV parse error: Empty CSV file or block ...)".
    path = tmp_path / "empty.csv"
    path.write_text(",".join(HEADER))
    assert imported(engine, path) == 0


def test_lines_ending_in_a_bare_carriage_return_are_read(engine, tmp_path):
    # Was: the csv module's "new-line character seen in unquoted field", a traceback.
    path = tmp_path / "mac.csv"
    path.write_bytes(f"{','.join(HEADER)}\r{ROW}\r".encode())
    assert imported(engine, path) == 1
    path.write_bytes(f"\r{','.join(HEADER)}\n{ROW}\n".encode())
    assert str(refused(engine, path)).endswith("mac.csv, line 1: the header is empty")


def test_a_short_row_that_is_not_utf8_is_named_without_noise(engine, tmp_path, monkeypatch):
    # Was: Arrow's "Exception ignored ... UnicodeDecodeError" traceback on stderr, then
    # "cannot be read (CSV parse error: Row #3 ...)", a row number off by one.
    ignored: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    path = tmp_path / "bytes.csv"
    path.write_bytes(f"{','.join(HEADER)}\n{ROW}\n".encode() + b"c2,\xed\xa0,x\n")
    error = refused(engine, path)
    assert error.problems == ["bytes.csv, row 2 (line 3): has 3 fields; the header has 11 "
                              "(not read further)"]  # fmt: skip
    assert ignored == []


@pytest.mark.parametrize(
    "column",
    [
        pa.array([["Ann"]], pa.list_(pa.string())),
        pa.array([{"v": "Ann"}], pa.struct([("v", pa.string())])),
        pa.array([[("k", "Ann")]], pa.map_(pa.string(), pa.string())),
        pa.array([None], pa.time64("us")),
    ],
    ids=["list", "struct", "map", "time"],
)
def test_a_parquet_column_of_a_type_with_no_text_is_refused_by_name(engine, tmp_path, column):
    # Was: pyarrow's ArrowNotImplementedError ("Unsupported cast ..."), a traceback.
    row = customer("c1")
    table = pa.table({**{c: [row[c]] for c in HEADER}, "first_name": column})
    pq.write_table(table, tmp_path / "nested.parquet")
    error = refused(engine, tmp_path / "nested.parquet")
    assert str(error).startswith(f"{tmp_path / 'nested.parquet'}: column first_name is stored as")


def test_a_dictionary_encoded_value_that_is_not_utf8_is_named_by_row(engine, tmp_path):
    # Was: "cannot be read (Invalid UTF8 payload)", no row and no column.
    rows = [customer("c1"), customer("c2")]
    table = pa.table({c: [r[c] for r in rows] for c in HEADER})
    names = pa.array([b"Ann", b"\xff"], pa.binary()).dictionary_encode()
    pq.write_table(table.set_column(2, "first_name", names), tmp_path / "dict.parquet")
    error = refused(engine, tmp_path / "dict.parquet")
    assert error.problems == [
        "dict.parquet, row 2, column first_name: is not UTF-8 text (byte 1 of the value)"
    ]


def test_a_nul_character_in_a_text_is_refused_on_every_database(engine, tmp_path):
    # Was, on PostgreSQL: DataError "text fields cannot contain NUL (0x00) bytes".
    path = tmp_path / "nul.csv"
    nul = {**customer("c1"), "first_name": "A\x00n"}
    path.write_text(f"{','.join(HEADER)}\n{','.join(nul[c] for c in HEADER)}\nc\x002,x\n")
    assert refused(engine, path).problems == [
        "nul.csv, row 1 (line 2), column first_name: contains a NUL character",
        "nul.csv, row 2 (line 3): has 2 fields; the header has 11",
    ]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory of its own, with no MAKEGOOD_* variable set."""
    for name in [n for n in os.environ if n.upper().startswith("MAKEGOOD_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def problems(**overrides: str) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**overrides)
    return caught.value.problems or [caught.value.message]


def test_a_makegood_toml_that_is_not_utf8_is_named(workdir):
    # Was: UnicodeDecodeError, a traceback.
    (workdir / "makegood.toml").write_bytes(b'base_url = "\xff"\n')
    assert problems() == [f"{workdir.resolve() / 'makegood.toml'}: not UTF-8 text (byte 13)"]


def test_a_table_variable_that_is_not_json_is_named_without_its_value(workdir, monkeypatch):
    # Was: pydantic_settings.SettingsError "error parsing value for field "company"".
    monkeypatch.setenv("MAKEGOOD_COMPANY", "hunter2")
    monkeypatch.setenv("MAKEGOOD_COMPANY__NAME", "Acme")
    found = problems()
    assert found == [
        "environment variable MAKEGOOD_COMPANY: company: not valid JSON; write a table as "
        "JSON, or each of its keys in a variable of its own"
    ]
    assert "hunter2" not in str(found)


def test_an_unreadable_secret_file_is_told_where_it_was_named(workdir, monkeypatch):
    # Was: "/.../makegood.toml: : secret_key_file: ..." (the file blamed for a variable,
    # no key), and "settings: web: alertmanager_token_file: ..." for a nested one.
    (workdir / "makegood.toml").write_text('base_url = "https://example.com"\n')
    (workdir / "key.bin").write_bytes(b"\xffsecret")
    monkeypatch.setenv("MAKEGOOD_SECRET_KEY_FILE", "key.bin")
    assert problems() == [
        "environment variable MAKEGOOD_SECRET_KEY_FILE: secret_key_file: key.bin is not "
        "UTF-8 text (byte 1)"
    ]
    monkeypatch.delenv("MAKEGOOD_SECRET_KEY_FILE")
    monkeypatch.setenv("MAKEGOOD_WEB__ALERTMANAGER_TOKEN_FILE", "missing\x85")
    assert problems() == [
        "environment variable MAKEGOOD_WEB__ALERTMANAGER_TOKEN_FILE: "
        "web.alertmanager_token_file: 'missing\\x85' cannot be read (No such file or directory)"
    ]


def test_a_file_key_the_settings_do_not_have_is_unknown_and_never_read(workdir):
    # Was: "0_file" read as a secret file, then "settings: unknown key '0'".
    (workdir / "secret").write_text("s3cret")
    (workdir / "makegood.toml").write_text('"0_file" = "secret"\n')
    assert problems() == [f"{workdir.resolve() / 'makegood.toml'}: unknown key '0_file'"]


def test_policy_numbers_beyond_what_is_stored_are_refused_by_key():
    # Was: OverflowError (timedelta, date) when planning, or on PostgreSQL a DataError
    # naming no key; SQLite took the version.
    text = seed_policy_text().replace("version = 1", "version = 99999999999")
    text += 'window_days = 999999999999\nmax_percent_per_window = "5"\n'
    text = text.replace('statuses = ["cancelled"]', "compensated_within_days = 10000000")
    with pytest.raises(InvalidInputError) as caught:
        parse_policy(text, "big.toml")
    assert caught.value.problems == [
        "version: Input should be less than or equal to 2147483647",
        "exclusions.compensated_within_days: Input should be less than or equal to 36500",
        "limits.window_days: Input should be less than or equal to 36500",
    ]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ('percent_of_monthly_price = "2"', 'rules[2] ("streaming trouble").amount'),
        ('minimum = "0.01"', "limits.minimum"),
    ],
)
def test_an_amount_no_credit_can_hold_names_its_key(change, said):
    # Was: decimal.InvalidOperation, or OverflowError storing the offer: a 500.
    key, _ = change.split(" = ")
    huge = Decimal(10) ** 40
    policy = parse_policy(seed_policy_text().replace(change, f'{key} = "{huge:f}"'))
    with pytest.raises(
        InvalidInputError, match=rf"^policy: {re.escape(said)}: comes to .* USD for one"
    ):
        decide(policy, STREAMING, PAYING, "confirmed", 1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("body", [b"", b"[]", b"5", b"null"])
def test_a_body_that_is_not_an_object_is_named_as_the_body(engine, database_url, body):
    # Was: 422 "Field required" or "Input should be a valid dictionary ...", field null.
    with UnitOfWork(engine) as uow:
        _, key = create_key(uow.session, "otto", "operator", NOW, "t")
        uow.commit()
    client = TestClient(create_app(Settings(database_url=database_url, secret_key=SECRET)))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    answer = client.post("/api/incidents", content=body, headers=headers)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "body"
    assert error["message"].startswith("body: ")
