"""Every refusal in the README's command table, on SQLite and PostgreSQL: exit status
1, one JSON error naming the place at fault, and not one row changed in any table.

The CLI runs in process (typer's CliRunner): what is tested is the command's answer,
not the process boundary, and it keeps the whole file to seconds.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from typer.testing import CliRunner

from makegood.db.engine import make_engine
from makegood.db.uow import _factory
from makegood.entrypoints.cli import app
from tests.support.files import customer, write_csv
from tests.support.world import SEED_POLICY

NOW = "2026-03-12T12:00:00+00:00"
LONG = "x" * 300  # longer than every String(200) column
DECLARE = ("incidents", "declare", "--service", "shipping", "--start", "2026-03-09T05:00:00Z")
SHIPMENTS = (
    "customer_id,order_id,due_at,shipped_at\n"
    "c1,o1,2026-03-09T12:00:00Z,2026-03-10T12:00:00Z\n"
    "c2,o2,2026-03-09T13:00:00Z,\n"
)


@dataclass
class Company:
    """A small company on its own database: two incidents with impacts, campaign 1
    cancelled, campaign 2 a draft."""

    url: str
    directory: Path
    engine: Engine  # for counting rows, beside the engines the commands make


def invoke(*args: str, stdin: str | None = None) -> tuple[int, dict]:
    """Run `makegood --json ARGS` in process: (exit status, the one JSON object)."""
    result = CliRunner().invoke(app, ["--json", *args], input=stdin, catch_exceptions=False)
    # Each command makes its own engine, as a process of its own would; let it go, and
    # its connection with it, rather than keep one open per command run here.
    _factory.cache_clear()
    gc.collect()
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"--json must print one object: {result.stdout!r}"
    return result.exit_code, json.loads(lines[0])


def counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the database."""
    with engine.connect() as conn:
        names = inspect(conn).get_table_names()
        return {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}


def refused(company: Company, *args: str, says: tuple[str, ...], stdin: str | None = None) -> str:
    """The command exits 1 with a message holding every text of ``says``, and no table
    of the company's database gained or lost a row. Returns the message."""
    before = counts(company.engine)
    code, answer = invoke(*args, stdin=stdin)
    assert code == 1, f"makegood {' '.join(args)} exited {code}: {answer}"
    error = answer["error"]
    message = error["message"]  # the problems listed in it, one a line
    for text_ in says:
        assert text_ in message, f"{text_!r} not in {message!r}"
    assert counts(company.engine) == before, f"makegood {' '.join(args)} changed the database"
    return str(error["message"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def company_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database of the module's own, shared by its tests: none of them may change it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'makegood.db'}"
        return
    databases = request.getfixturevalue("pg_databases")
    name = databases.create(migrated=False)  # empty: `makegood init` makes it
    yield databases.url(name)
    databases.drop_later(name)


@pytest.fixture(scope="module")
def built(company_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Company]:
    directory = tmp_path_factory.mktemp("company")
    mp = pytest.MonkeyPatch()
    mp.chdir(directory)
    mp.setenv("MAKEGOOD_DATABASE_URL", company_url)
    mp.setenv("MAKEGOOD_NOW", NOW)
    try:
        write_csv(directory / "customers.csv", [customer("c1"), customer("c2"), customer("c3")])
        (directory / "shipments.csv").write_text(SHIPMENTS)
        (directory / "policy.toml").write_text(SEED_POLICY)
        for args in (
            ["init"],
            ["customers", "import", "customers.csv"],
            ["sources", "add", "shipments", "shipments.csv"],
            *[
                [*DECLARE, "--title", f"Warehouse {n}", "--end", "2026-03-10T03:00:00Z"]
                for n in (1, 2)
            ],
            ["impact", "run", "1"],
            ["impact", "run", "2"],
            ["campaigns", "plan", "1", "--policy", "policy.toml"],
            ["campaigns", "cancel", "1"],
            ["campaigns", "plan", "2", "--policy", "policy.toml"],
        ):
            code, answer = invoke(*args)
            assert code == 0, f"setup: makegood {' '.join(args)}: {answer}"
    finally:
        mp.undo()
    engine = make_engine(company_url)
    yield Company(company_url, directory, engine)
    engine.dispose()


@pytest.fixture
def company(built: Company, monkeypatch: pytest.MonkeyPatch) -> Company:
    """The company, with the working directory and environment a user of it has."""
    monkeypatch.chdir(built.directory)
    monkeypatch.setenv("MAKEGOOD_DATABASE_URL", built.url)
    monkeypatch.setenv("MAKEGOOD_NOW", NOW)
    return built


def test_init_on_a_database_that_cannot_be_opened_names_it(company, tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "x.db"
    refused(
        company,
        "--database",
        f"sqlite:///{missing}",
        "init",
        says=(f"sqlite:///{missing}", "unable to open database file"),
    )
    assert not missing.parent.exists()
    message = refused(
        company,
        "--database",
        "postgresql://makegood:s3cret@127.0.0.1:1/nowhere",
        "init",
        says=("127.0.0.1:1/nowhere", "could not be reached", "OperationalError"),
    )
    assert "s3cret" not in message  # the password is never shown
    refused(company, "--database", "mysql://h/db", "init", says=("--database", "not mysql://"))


def test_a_bad_customers_file_is_refused_whole_with_every_problem(company):
    header = ",".join(customer("c").keys())
    good = ",".join(customer("c1", first_name="Changed").values())
    lines = [
        header,
        good,  # row 1: valid, and would update c1
        ",".join(customer("c9", country="ZZ").values()),  # row 2
        ",".join(customer("c8").values())[: -len(",2026-04-01")],  # row 3: 10 fields
        '"c7","c7@example.com","Ann\nMarie",en-US,America/New_York,US,active,'
        "basic,8.99,USD,2026-04-01",  # row 4, over lines 5-6
        ",".join(customer("c1", first_name="Dup").values()),  # row 5: c1 again
        ",".join(customer("c" * 100_002, first_name="y" * 1_000_000).values()),  # row 6
    ]
    path = company.directory / "bad.csv"
    data = (
        "\n".join(lines).encode()
        + b"\n"
        + ",".join(customer("c6").values()).replace("Ann", "An\xffn").encode("latin-1")
    )  # row 7: not UTF-8
    path.write_bytes(data + b"\n")
    message = refused(
        company,
        "customers",
        "import",
        "bad.csv",
        says=(
            "bad.csv, row 2 (line 3), column country: 'ZZ' is not an ISO 3166-1",
            "bad.csv, row 3 (line 4): has 10 fields; the header has 11",
            "bad.csv, row 5 (line 7), column customer_id: 'c1' already appears in row 1",
            "bad.csv, row 6 (line 8), column customer_id: is 100,002 characters long; "
            "at most 200 fit",
            "row 6 (line 8), column first_name: is 1,000,000 characters long; at most 200 fit",
            "bad.csv, row 7 (line 9), column first_name: is not UTF-8 text",
        ),
    )
    assert "7 problems" in message  # row 6's email, made of its id, is too long too
    refused(company, "customers", "import", "missing.csv", says=("missing.csv: no such file",))


def test_bad_sources_are_named_by_table_file_line_and_column(company):
    refused(company, "sources", "add", "nosuch", "x.csv", says=("'nosuch' is not a source table",))
    refused(company, "sources", "add", "shipments", "none/*.csv", says=("none/*.csv", "no file"))
    bad = company.directory / "bad_shipments.csv"
    bad.write_bytes(
        b"customer_id,order_id,due_at,shipped_at\n"
        b"c1,o1,2026-03-09T12:00:00Z\n"
        b"c2,o\xff2,2026-03-09T12:00:00Z,\n"
        b"c3,o3,2026-03-09T12:00:00,\n"
    )
    refused(
        company,
        "sources",
        "add",
        "shipments",
        "bad_shipments.csv",
        says=(
            "bad_shipments.csv, line 2: has too few fields; no value for shipped_at",
            "bad_shipments.csv, line 3, column order_id: is not UTF-8 text",
            "column due_at is not an ISO-8601 instant with an offset",
        ),
    )


def test_incidents_with_bad_instants_or_texts_are_not_declared(company):
    declare = ["incidents", "declare", "--service", "streaming", "--title", "Down"]
    refused(
        company,
        *declare,
        "--start",
        "2026-03-09T05:00:00Z",
        "--end",
        "2026-03-09T04:00:00Z",
        says=("end (2026-03-09T04:00:00+00:00) must be after start",),
    )
    for zone in ("2026-03-09T05:00:00+25:00", "2026-03-09T05:00:00 Mars/Olympus"):
        refused(company, *declare, "--start", zone, says=("--start", "not an ISO-8601 instant"))
    refused(company, *declare, "--start", "2026-03-09T05:00:00", says=("--start", "no UTC offset"))
    refused(
        company,
        "incidents",
        "declare",
        "--service",
        "streaming",
        "--start",
        "2026-03-09T05:00:00Z",
        "--title",
        LONG,
        says=("incidents.title is 300 characters long; at most 200 fit",),
    )
    refused(company, "impact", "run", "999", says=("incident 999 does not exist",))
    refused(company, "report", "999", says=("incident 999 does not exist",))


def test_campaigns_refuse_bad_policies_unknown_ids_and_wrong_states(company):
    typo = company.directory / "typo.toml"
    typo.write_text(SEED_POLICY.replace("percent_of_monthly_price", "percent_of_monthy_price", 1))
    refused(
        company,
        "campaigns",
        "plan",
        "2",
        "--policy",
        "typo.toml",
        says=(
            "typo.toml: the policy is not valid",
            "rules[1]",
            ".amount: unknown key 'percent_of_monthy_price' "
            "(did you mean 'percent_of_monthly_price'?)",
        ),
    )
    refused(company, "campaigns", "plan", "2", "--policy", "none.toml", says=("none.toml",))
    for verb in (["approve", "999", "--by", "Dana"], ["execute", "999"], ["cancel", "999"]):
        refused(company, "campaigns", *verb, says=("campaign 999 does not exist",))
    refused(company, "campaigns", "approve", "1", "--by", "Dana", says=("campaign 1 is cancelled",))
    refused(company, "campaigns", "cancel", "1", says=("campaign 1 is cancelled",))
    refused(company, "campaigns", "execute", "1", says=("campaign 1",))
    refused(company, "campaigns", "execute", "2", says=("needs approval",))
    refused(
        company,
        "campaigns",
        "approve",
        "2",
        "--by",
        LONG,
        says=("approvals.approver is 300 characters long; at most 200 fit",),
    )


def test_credits_billing_keys_users_audit_and_demo_refusals(company):
    refused(
        company, "credits", "void", "999", "--reason", "test", says=("offer 999 does not exist",)
    )
    refused(company, "credits", "claim", "UNKNOWN-TOKEN", says=("TOKEN: no claim link",))
    refused(company, "credits", "balance", "nobody", says=("customer 'nobody' does not exist",))
    refused(
        company, "billing", "export", "--out", "no/such/dir/x.csv", says=("--out", "no/such/dir")
    )
    refused(company, "billing", "export", "--out", "x.csv", "--batch", "999", says=("batch 999",))
    assert not (company.directory / "x.csv").exists()
    refused(company, "keys", "create", "--role", "god", says=("--role: 'god' is not a role",))
    refused(
        company,
        "keys",
        "create",
        "--role",
        "viewer",
        "--owner",
        LONG,
        says=("api_keys.owner is 300 characters long",),
    )
    add_user = ["users", "add", "bob", "--password-stdin"]
    refused(company, *add_user, "--role", "god", stdin="correct horse battery\n", says=("--role",))
    refused(
        company,
        *add_user,
        "--role",
        "viewer",
        "--name",
        LONG,
        stdin="correct horse battery\n",
        says=("users.display_name is 300 characters long",),
    )
    refused(company, "audit", "--since", "yesterday", says=("--since", "'yesterday'"))
    refused(company, "demo", "--customers", "5", says=("--customers", "makegood demo --help"))
    refused(company, "demo", "--customers", "many", says=("--customers",))
    assert not (company.directory / "makegood-demo").exists()


def test_settings_errors_name_the_file_or_variable_and_the_key(company, monkeypatch):
    config = company.directory / "makegood.toml"
    try:
        config.write_text("[delivery]\nconections = 4\n")
        refused(
            company,
            "incidents",
            "list",
            says=(
                f"{config}: unknown key 'delivery.conections' "
                "(did you mean 'delivery.connections'?)",
            ),
        )
        config.write_text('[delivery]\nconnections = "many"\n')
        refused(
            company,
            "incidents",
            "list",
            says=(f"{config}: delivery.connections: Input should be a valid integer",),
        )
        config.write_text("[delivery\n")
        refused(company, "incidents", "list", says=(f"{config}: not valid TOML",))
    finally:
        config.unlink()
    monkeypatch.setenv("MAKEGOOD_DELIVERY__CONECTIONS", "4")
    refused(
        company,
        "incidents",
        "list",
        says=(
            "environment variable MAKEGOOD_DELIVERY__CONECTIONS: unknown key "
            "'delivery.conections' (did you mean 'MAKEGOOD_DELIVERY__CONNECTIONS'?)",
        ),
    )
