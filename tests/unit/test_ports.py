"""The root's ports: bound once, made once, one asking for another, and clear errors for
what nothing provides; adapters by entry point; secrets from files."""

from __future__ import annotations

import threading

import pytest

from makegood.config import Settings
from makegood.core.clock import SystemClock
from makegood.core.errors import ConfigurationError
from makegood.kits import plugins
from makegood.kits.ports import Bindings, Port
from makegood.kits.root import Root

ENGINE: Port[str] = Port("engine")
CHECK: Port[str] = Port("check")


def root_with(bindings: Bindings) -> Root:
    return Root(Settings(database_url="sqlite:///:memory:"), SystemClock(), bindings)


def test_a_port_is_made_once_and_may_ask_for_another():
    made: list[str] = []
    bindings = Bindings()
    root = root_with(bindings)

    def engine() -> str:
        made.append("engine")
        return "duckdb"

    bindings.bind(ENGINE, engine)
    bindings.bind(CHECK, lambda: "check with " + root.port(ENGINE))
    answers: list[str] = []
    worker = threading.Thread(target=lambda: answers.append(root.port(CHECK)), daemon=True)
    worker.start()
    worker.join(5)
    assert answers == ["check with duckdb"], "asking for a port from a factory deadlocked"
    assert root.port(ENGINE) == "duckdb" and made == ["engine"]


def test_ports_resolve_late_and_defaults_need_no_binding():
    cache: Port[dict[str, int]] = Port("a cache", lambda root: {"made by": 1})
    root = root_with(Bindings(lambda port: (lambda: "late") if port is ENGINE else None))
    assert root.port(ENGINE) == "late"
    assert root.port(cache) is root.port(cache)
    with pytest.raises(ConfigurationError, match="nothing provides the check"):
        root.port(CHECK)


def test_a_port_cannot_be_bound_twice():
    bindings = Bindings()
    bindings.bind(ENGINE, lambda: "a")
    with pytest.raises(ConfigurationError, match="engine is bound twice"):
        bindings.bind(ENGINE, lambda: "b")


def test_makegoods_own_adapters_are_found_by_entry_point():
    assert {"csv", "jsonl"} <= set(plugins.names(plugins.BILLING_SINKS))
    assert "smtp" in plugins.names(plugins.CHANNELS)
    assert "duckdb" in plugins.names(plugins.ENGINES)


def test_an_unknown_adapter_names_the_setting_and_what_is_installed():
    with pytest.raises(ConfigurationError) as caught:
        plugins.factory(plugins.BILLING_SINKS, "jsnol", "--format")
    message = str(caught.value)
    assert message.startswith("--format: no makegood.billing_sinks adapter is called 'jsnol'")
    assert "did you mean 'jsonl'?" in message and "installed: csv, jsonl" in message


def test_secrets_are_hidden_and_may_come_from_files(tmp_path, monkeypatch):
    key = tmp_path / "key"
    key.write_text("from-a-file-0123456789\n")
    monkeypatch.setenv("MAKEGOOD_SECRET_KEY_FILE", str(key))
    monkeypatch.setenv("MAKEGOOD_SMTP_URL", "smtp+starttls://mailer:hunter2@relay.example:587")
    settings = Settings()
    assert settings.secret_key.get_secret_value() == "from-a-file-0123456789"
    assert "from-a-file" not in repr(settings) and "hunter2" not in repr(settings)
    assert settings.smtp_url_shown() == "smtp+starttls://mailer:***@relay.example:587"
    monkeypatch.setenv("MAKEGOOD_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="secret_key_file: .*missing cannot be read"):
        Settings()
