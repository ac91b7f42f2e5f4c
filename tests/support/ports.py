"""The adapters tests hand to the domain functions directly (the CLI, app and demo get
theirs from the composition root)."""

from __future__ import annotations

from makegood.adapters.billing_files import FileSink
from makegood.adapters.duckdb_engine import DuckDBEngine
from makegood.campaigns.terms import Executed

ENGINE = DuckDBEngine()
# run_impact(..., **IMPACT); add_source(..., **CHECK)
IMPACT = {"engine": ENGINE, "executed": Executed()}
CHECK = {"check": ENGINE}


def sink(name: str) -> FileSink:
    """A file billing sink: "csv" or "jsonl"."""
    return FileSink(name)
