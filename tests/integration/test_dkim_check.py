"""`makegood dkim check` tells apart the three answers DNS can give: a record whose key
verifies the sample, a record with another key ("does not match"), and no record at
all ("no DKIM record found at SELECTOR._domainkey.DOMAIN"), each with the DNS lookup
injected."""

from __future__ import annotations

import json

import dkim
import pytest
from typer.testing import CliRunner

from makegood.adapters.dkim_signing import new_key, sample_verifies
from makegood.channel_config import DkimSettings
from makegood.entrypoints.cli import app
from tests.support.delivery import settings

DOMAIN, SELECTOR = "video.example.com", "mg2026"
NAME = f"{SELECTOR}._domainkey.{DOMAIN}"


def answering(txt: bytes | None):
    """A DNS lookup as dkimpy calls it, answering ``txt`` for NAME and nothing else."""
    asked: list[bytes] = []

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        asked.append(name)
        return txt if name.rstrip(b".") == NAME.encode() else None

    lookup.asked = asked  # type: ignore[attr-defined]
    return lookup


@pytest.fixture
def config(tmp_path):
    record = new_key(tmp_path / "dkim.pem", "rsa")
    dkim_settings = DkimSettings(
        domain=DOMAIN, selector=SELECTOR, private_key_file=tmp_path / "dkim.pem"
    )
    made = settings("sqlite://", 25).model_copy(update={"dkim": dkim_settings})
    return made, record


def test_a_published_record_with_the_key_verifies(config):
    made, record = config
    lookup = answering(record.encode())
    assert sample_verifies(made, None, lookup) == (True, f"matches the TXT record at {NAME}")
    assert lookup.asked and all(name == f"{NAME}.".encode() for name in lookup.asked)


def test_a_published_record_with_another_key_does_not_match(config, tmp_path):
    made, _ = config
    other = new_key(tmp_path / "other.pem", "rsa")
    ok, why = sample_verifies(made, None, answering(other.encode()))
    assert (ok, why) == (False, f"does not match the TXT record at {NAME}")


@pytest.mark.parametrize("txt", [None, b""], ids=["no answer", "empty"])
def test_no_record_published_is_said_as_such(config, txt):
    made, _ = config
    ok, why = sample_verifies(made, None, answering(txt))
    assert (ok, why) == (False, f"no DKIM record found at {NAME}")
    assert "does not match" not in why


def test_dns_that_does_not_answer_is_said_as_such(config):
    made, _ = config

    def silent(name: bytes, timeout: int = 5) -> bytes | None:
        raise dkim.DnsTimeoutError("dns.exception.Timeout: 5 seconds")

    ok, why = sample_verifies(made, None, silent)
    assert not ok and why.startswith(f"DNS did not answer for {NAME}")


def test_the_command_exits_1_when_no_record_is_published(config, tmp_path, monkeypatch):
    made, _ = config
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(dkim, "get_txt", answering(None))  # the resolver the command uses
    env = {
        "MAKEGOOD_DATABASE_URL": f"sqlite:///{tmp_path / 'makegood.db'}",
        "MAKEGOOD_SECRET_KEY": made.secret_key.get_secret_value(),
        "MAKEGOOD_DKIM__DOMAIN": DOMAIN,
        "MAKEGOOD_DKIM__SELECTOR": SELECTOR,
        "MAKEGOOD_DKIM__PRIVATE_KEY_FILE": str(tmp_path / "dkim.pem"),
    }
    shown = CliRunner().invoke(app, ["dkim", "check"], env={**env, "COLUMNS": "200"})
    assert shown.exit_code == 1, shown.output
    assert f"Not verified: no DKIM record found at {NAME}" in shown.output
    as_json = CliRunner().invoke(app, ["--json", "dkim", "check"], env=env)
    assert as_json.exit_code == 1, as_json.output
    assert json.loads(as_json.stdout) == {
        "verified": False,
        "detail": f"no DKIM record found at {NAME}",
    }
