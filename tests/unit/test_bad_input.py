"""Bad input named by its place: customer fields, policy keys, settings, and the
errors of the database, on the CLI and the API, never as a traceback."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import httpx
import pytest
import typer
from fastapi import FastAPI
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from typer.testing import CliRunner

from makegood.campaigns.models import Campaign
from makegood.core.errors import ConfigurationError, InvalidInputError
from makegood.credits.models import Offer
from makegood.customers.models import Customer
from makegood.customers.rules import LIMITS, RowProblems, countries, validate_row
from makegood.kits.cli.context import load_settings
from makegood.kits.cli.errors import reports_errors
from makegood.kits.http.errors import install
from makegood.policy.schema import NAME_MAX, parse_policy
from tests.support.files import customer
from tests.support.world import SEED_POLICY

GOOD = customer("c1")
SECRET = "ann.secret@example.com"  # a parameter that must never be shown
STATEMENT = "INSERT INTO customers (customer_id, email) VALUES (?, ?)"


def problems(**changes: str) -> dict[str, str]:
    with pytest.raises(RowProblems) as caught:
        validate_row({**GOOD, **changes})
    return dict(caught.value.problems)


# Customers: countries and lengths


@pytest.mark.parametrize("code", ["ZZ", "XA", "XB", "XK", "QO", "AA", "EU", "EZ", "UN", "001"])
def test_user_assigned_and_non_country_codes_are_refused(code):
    assert "ISO 3166-1 alpha-2" in problems(country=code)["country"]


@pytest.mark.parametrize("code", ["US", "GB", "JP", "DE", "BR", "AQ", "SS"])
def test_assigned_country_codes_are_accepted(code):
    assert validate_row({**GOOD, "country": code}).country == code


def test_the_country_list_is_iso_3166_1_exactly():
    assert len(countries()) == 249  # every code ISO 3166-1 assigns, and no other


def test_text_limits_are_the_customers_table_own():
    for column in Customer.__table__.c:
        if column.name in ("customer_id", "email", "first_name", "country", "plan", "currency"):
            assert LIMITS[column.name] == column.type.length
    assert "next_bill_date" not in LIMITS  # a date has no length
    assert LIMITS["first_name"] == 200 and LIMITS["email"] == 320


@pytest.mark.parametrize(("column", "limit"), [("customer_id", 200), ("first_name", 200)])
def test_free_text_fits_its_column_or_is_refused_with_the_limit(column, limit):
    assert getattr(validate_row({**GOOD, column: "a" * limit}), column) == "a" * limit
    assert problems(**{column: "a" * (limit + 1)})[column] == (
        f"is {limit + 1} characters long; at most {limit} fit"
    )


def test_a_huge_value_is_refused_by_length_without_being_repeated():
    found = problems(first_name="y" * 1_000_000, timezone="z" * 5000, plan="p" * 101)
    assert found["first_name"] == "is 1,000,000 characters long; at most 200 fit"
    assert found["timezone"] == "is 5,000 characters long; at most 64 fit"
    assert found["plan"] == "is 101 characters long; at most 100 fit"


def test_a_price_no_bigint_holds_is_refused():
    assert "too large" in problems(monthly_price="92233720368547758.08")["monthly_price"]
    assert "too large" in problems(monthly_price="1" * 5000)["monthly_price"]
    assert validate_row({**GOOD, "monthly_price": "92233720368547758.07"}).monthly_price_minor == (
        2**63 - 1
    )


# Policy files: unknown keys


def test_a_misspelt_amount_key_is_named_with_a_suggestion():
    text = SEED_POLICY.replace("percent_of_monthly_price", "percent_of_monthy_price", 1)
    with pytest.raises(InvalidInputError) as caught:
        parse_policy(text, "p.toml")
    assert caught.value.problems == [
        "rules[1] (\"late shipment\").amount: unknown key 'percent_of_monthy_price' "
        "(did you mean 'percent_of_monthly_price'?)"
    ]


def test_unknown_keys_anywhere_are_all_named_with_their_place():
    text = """
nmae = "x"
name = "x"
[[rules]]
name = "a"
amount = { per_day = { fixd = "1.00" }, cap = { fixed = "5.00" } }
mode = "claim"
claim_day = 3
[exclusions]
status = ["cancelled"]
[limits]
minimum = "0.01"
whatever = 1
"""
    with pytest.raises(InvalidInputError) as caught:
        parse_policy(text, "p.toml")
    assert caught.value.problems == [
        "(top level): unknown key 'nmae' (did you mean 'name'?)",
        "rules[1] (\"a\").amount.per_day: unknown key 'fixd' (did you mean 'fixed'?)",
        "rules[1] (\"a\"): unknown key 'claim_day' (did you mean 'claim_days'?)",
        "exclusions: unknown key 'status' (did you mean 'statuses'?)",
        "limits: unknown key 'whatever'",
    ]


def test_policy_and_rule_names_fit_what_campaigns_and_offers_keep():
    assert Campaign.__table__.c.policy_name.type.length >= NAME_MAX
    assert Offer.__table__.c.rule.type.length >= NAME_MAX
    with pytest.raises(InvalidInputError, match=r"rules\[1\].*\.name: String should have at most"):
        parse_policy(SEED_POLICY.replace('name = "late shipment"', f'name = "{"r" * 201}"', 1))


# Settings: the file or the variable, the key, a suggestion


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("MAKEGOOD_DATABASE_URL", "MAKEGOOD_NOW"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def settings_error(**given: object) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**given)
    return caught.value


def test_a_misspelt_key_in_makegood_toml_names_the_file_and_the_right_key(workdir):
    (workdir / "makegood.toml").write_text("[delivery]\nconections = 3\n")
    assert settings_error().problems == [
        f"{workdir / 'makegood.toml'}: unknown key 'delivery.conections' "
        "(did you mean 'delivery.connections'?)"
    ]


def test_a_bad_value_in_makegood_toml_names_the_file_and_the_key(workdir):
    (workdir / "makegood.toml").write_text('[delivery]\nconnections = "many"\n')
    [problem] = settings_error().problems
    assert problem.startswith(f"{workdir / 'makegood.toml'}: delivery.connections: ")
    assert "valid integer" in problem


def test_a_toml_syntax_error_names_the_file(workdir):
    (workdir / "makegood.toml").write_text("[delivery\n")
    assert f"{workdir / 'makegood.toml'}: not valid TOML" in settings_error().message


def test_environment_variables_and_options_are_named_as_written(workdir, monkeypatch):
    monkeypatch.setenv("MAKEGOOD_DELIVERY__CONECTIONS", "3")
    monkeypatch.setenv("MAKEGOOD_WEB__CLAIM_RATE_PER_MINUTE", "lots")
    found = settings_error(database_url="oracle://scott:tiger@db/x").problems
    assert (
        "environment variable MAKEGOOD_DELIVERY__CONECTIONS: unknown key 'delivery.conections' "
        "(did you mean 'MAKEGOOD_DELIVERY__CONNECTIONS'?)"
    ) in found
    assert any(
        p.startswith("environment variable MAKEGOOD_WEB__CLAIM_RATE_PER_MINUTE: ") for p in found
    )
    assert any(p.startswith("--database: database_url: ") and "oracle://" in p for p in found)
    assert not any("tiger" in p for p in found)


def test_spark_settings_come_from_the_file_and_the_environment(workdir, monkeypatch):
    (workdir / "makegood.toml").write_text(
        'impact_engine = "spark"\n[spark]\nmaster = "local[2]"\n'
        '[spark.conf]\n"spark.executor.memory" = "4g"\n'
    )
    loaded = load_settings()
    assert (loaded.impact_engine, loaded.spark.master) == ("spark", "local[2]")
    assert loaded.spark.conf == {"spark.executor.memory": "4g"}
    monkeypatch.setenv("MAKEGOOD_SPARK__MASTER", "spark://10.0.0.5:7077")
    assert load_settings().spark.master == "spark://10.0.0.5:7077"
    monkeypatch.setenv("MAKEGOOD_SPARK__MASTER", "sc://spark.internal:15002")
    assert load_settings().spark.master == "sc://spark.internal:15002"


def test_a_spark_master_that_is_not_one_is_named(workdir, monkeypatch):
    monkeypatch.setenv("MAKEGOOD_SPARK__MASTER", "localhost:7077")
    [problem] = settings_error().problems
    assert problem.startswith("environment variable MAKEGOOD_SPARK__MASTER: ")
    assert "'localhost:7077' is not a Spark master" in problem


# Database errors: one line, exit status 1, no statement, no parameters


def integrity_error() -> IntegrityError:
    driver = sqlite3.IntegrityError(
        "UNIQUE constraint failed: customers.email\nDETAIL: Key (email)=(ann) exists."
    )
    return IntegrityError(STATEMENT, ("c1", SECRET), driver)


@pytest.mark.parametrize("as_json", [False, True])
def test_a_database_error_in_a_command_is_one_line_and_exit_1(as_json):
    cli = typer.Typer()

    @cli.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = type("Obj", (), {"json": as_json, "settings": None})()

    @cli.command()
    @reports_errors
    def write(ctx: typer.Context) -> None:
        raise integrity_error()

    result = CliRunner().invoke(cli, ["write"], catch_exceptions=False)
    assert result.exit_code == 1
    shown = result.stdout + result.stderr
    assert "Traceback" not in shown and SECRET not in shown and "INSERT" not in shown
    assert "DETAIL" not in shown  # PostgreSQL's second line may hold the values
    if as_json:
        error = json.loads(result.stdout)["error"]
        assert error["kind"] == "database"
        assert "UNIQUE constraint failed: customers.email" in error["message"]
    else:
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("error: database: refused a change that conflicts")


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            OperationalError(STATEMENT, ("c1", SECRET), sqlite3.OperationalError("disk I/O error")),
            503,
            "database_unavailable",
        ),
        (integrity_error(), 409, "conflict"),
        (
            DataError(STATEMENT, ("c1", SECRET), sqlite3.DataError("value too long")),
            422,
            "invalid_input",
        ),
    ],
)
def test_a_database_error_on_the_api_is_documented_json(error, status, code):
    api = FastAPI()
    install(api)

    @api.get("/boom")
    def boom() -> None:
        raise error

    answer = asyncio.run(get(api, "/boom"))
    assert answer.status_code == status
    body = answer.json()["error"]
    assert body["code"] == code and body["message"].startswith("database: ")
    assert SECRET not in answer.text and "INSERT" not in answer.text


async def get(api: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


def test_the_api_documents_the_database_being_unavailable():
    from makegood.kits.http.errors import COMMON

    assert 503 in COMMON and "database_unavailable" in COMMON[503]["description"]


# Claims: every refusal exits 1 and commits nothing


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("unknown", "TOKEN: no claim link has this token"),
        ("already_claimed", "offer 7 was already claimed"),
        ("voided", "offer 7 was voided"),
        ("expired", "offer 7 expired"),
    ],
)
def test_a_refused_claim_exits_1_and_commits_nothing(status, says, monkeypatch, tmp_path):
    from makegood.credits import service
    from makegood.credits.service import ClaimOutcome
    from makegood.db.uow import UnitOfWork
    from makegood.entrypoints.cli import app

    commits: list[bool] = []
    monkeypatch.setattr(UnitOfWork, "commit", lambda self: commits.append(True))
    monkeypatch.setattr(
        service, "claim", lambda *a: ClaimOutcome(status, None if status == "unknown" else 7)
    )
    monkeypatch.setattr(
        "makegood.kits.cli.context.AppContext.uow", lambda self: UnitOfWork(self.engine)
    )
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(
        app, ["--json", "--database", db, "credits", "claim", "T"], catch_exceptions=False
    )
    assert result.exit_code == 1
    assert says in json.loads(result.stdout)["error"]["message"]
    assert commits == []
