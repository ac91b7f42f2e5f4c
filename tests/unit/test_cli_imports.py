"""`makegood` starts fast because commands are imported only when used: these tests
fail when an import at the top of a module brings the heavy libraries back into
start-up, or when the root's table of commands drifts from the commands themselves."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from makegood.entrypoints.cli import COMMANDS, app
from makegood.entrypoints.lazy import Placeholder

# What no quick command may import: the analytics engine, the web stack, the letters,
# Arrow, the server and the SMTP client.
HEAVY = {"duckdb", "fastapi", "jinja2", "babel", "pyarrow", "uvicorn", "aiosmtplib"}
# Listing the commands needs none of these either; they are most of the second the
# eager import used to take (settings, the database layer, migrations).
NOT_FOR_HELP = HEAVY | {"sqlalchemy", "pydantic", "pydantic_settings", "alembic"}
# The commands and groups of the CLI contract (README and DESIGN.md), spelled out here
# rather than read from COMMANDS so that a command dropped from the table is noticed.
EVERY_COMMAND = {
    "init", "serve", "send", "worker", "mailbox", "bounces", "dkim", "demo", "report", "audit",
    "customers", "sources", "incidents", "impact", "campaigns", "credits", "billing",
    "keys", "users", "policy",
}  # fmt: skip

# Runs in a fresh interpreter: imports the CLI (or runs it with the given arguments),
# then writes every module it ended up with to the file named first.
PROBE = """
import json, sys
out, argv = sys.argv[1], sys.argv[2:]
try:
    if argv == ["--import-only"]:
        import makegood.entrypoints.cli
    else:
        from makegood.entrypoints.cli import main
        sys.argv = ["makegood", *argv]
        main()
finally:
    with open(out, "w") as f:
        json.dump(sorted(sys.modules), f)
"""


def probe(tmp_path: Path, *argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run PROBE in tmp_path (no makegood.toml, no MAKEGOOD_* settings)."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKEGOOD_")}
    env["COLUMNS"] = "120"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc, set(json.loads(out.read_text()))


def packages(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def command_modules(modules: set[str]) -> set[str]:
    """The domains' CLI modules among those imported."""
    return {
        name
        for name in modules
        if name.startswith("makegood.")
        and name.endswith(".cli")
        and not name.startswith("makegood.kits.")  # the CLI kit every command is built with
    }


def test_importing_the_cli_imports_no_heavy_library(tmp_path):
    proc, modules = probe(tmp_path, "--import-only")
    assert proc.returncode == 0, proc.stderr
    assert packages(modules) & NOT_FOR_HELP == set()
    assert command_modules(modules) == {"makegood.entrypoints.cli"}


def test_help_lists_every_command_without_importing_any(tmp_path):
    proc, modules = probe(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    listed = {
        line.strip("│ ").split()[0]
        for line in proc.stdout.splitlines()
        if line.startswith("│ ") and not line.startswith("│ -")
    }
    assert listed >= EVERY_COMMAND
    assert {spec.name for spec in COMMANDS} == EVERY_COMMAND
    assert packages(modules) & NOT_FOR_HELP == set()
    assert command_modules(modules) == {"makegood.entrypoints.cli"}


def test_a_command_imports_its_own_module_only(tmp_path):
    proc, modules = probe(tmp_path, "incidents", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "declare" in proc.stdout and "list" in proc.stdout
    assert command_modules(modules) == {"makegood.entrypoints.cli", "makegood.incidents.cli"}


def test_incidents_list_imports_no_heavy_library(tmp_path):
    init, _ = probe(tmp_path, "init")
    assert init.returncode == 0, init.stderr
    proc, modules = probe(tmp_path, "--json", "incidents", "list")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == {"incidents": []}
    assert packages(modules) & HEAVY == set()


def test_each_listed_help_is_the_first_paragraph_of_the_command_own_help():
    for spec in COMMANDS:
        command = spec.load()
        assert not isinstance(command, Placeholder)
        own = inspect.cleandoc(command.help or "").split("\n\n")[0]
        # The command's own help has its paragraphs on one line each (lazy.reflow).
        assert (spec.name, " ".join(spec.help.split())) == (spec.name, own)
        assert command.short_help is None and not command.hidden and not command.deprecated


def test_a_mistyped_command_is_still_answered_with_the_closest_name():
    result = CliRunner().invoke(app, ["incident", "list"])
    assert result.exit_code != 0
    assert "Did you mean 'incidents'" in result.output


def test_each_model_module_alone_brings_the_tables_its_foreign_keys_name():
    # Commands no longer import every model up front, so a model module must import
    # the modules of the tables it refers to, or its first flush fails.
    import makegood.entrypoints.tables as every_model

    modules = sorted({getattr(every_model, name).__module__ for name in every_model.__all__})
    check = (
        "import importlib, sys\n"
        "module = importlib.import_module(sys.argv[1])\n"
        "from makegood.db.base import Base\n"
        "for table in Base.metadata.tables.values():\n"
        "    for key in table.foreign_keys:\n"
        "        key.column  # raises NoReferencedTableError for a missing table\n"
    )
    for module in modules:
        proc = subprocess.run(
            [sys.executable, "-c", check, module], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, f"{module}: {proc.stderr.strip().splitlines()[-1]}"
