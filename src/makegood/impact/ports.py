"""What the impact domain needs from outside.

``ImpactEngine``: runs the built-in rules' SQL and the operators' custom rules over the
registered sources and answers the impact rows as a stream of Arrow record batches (one
row per known customer: customer_id, confidence, magnitude, rule, evidence), so a
cluster's answer reaches the store a bounded batch at a time. DuckDB, in process, and
Apache Spark are the engines here; one is chosen by the ``impact_engine`` setting among
the ``makegood.engines`` entry points. It also checks sources when they are added, since it
is the one that will read them.

``ExecutedCampaigns``: whether a campaign was already executed from an incident's
impacts (the campaigns domain knows); those impacts are then kept as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa
from sqlalchemy.orm import Session

from makegood.impact.rules import CustomRule, Window
from makegood.kits.ports import Port
from makegood.sources.ports import SourceCheck

RESULT_COLUMNS = ("customer_id", "confidence", "magnitude", "rule", "evidence")
RESULT_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("confidence", pa.string()),
        ("magnitude", pa.int64()),
        ("rule", pa.string()),
        ("evidence", pa.string()),
    ]
)


@dataclass(frozen=True)
class SourceRef:
    path: str
    format: str


@dataclass(frozen=True)
class ImpactJob:
    """One run: every known customer (customer_id, timezone), as an Arrow table or a
    Parquet file of those two columns; the registered sources by table name, the
    incident's window, the custom rules, and whether the built-in rules run too."""

    customers: pa.Table | Path
    sources: dict[str, SourceRef]
    window: Window
    custom: list[CustomRule] = field(default_factory=list)
    builtin: bool = True


@dataclass
class EngineResult:
    impacts: pa.RecordBatchReader  # batches of RESULT_SCHEMA, read once
    # Ids in the sources that are not customers. An engine that streams its answer
    # may count them as the batches pass: final once ``impacts`` is read to the end.
    unknown_customers: int
    rules: list[str]
    seconds: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class ImpactEngine(SourceCheck, Protocol):
    name: str

    def compute(self, job: ImpactJob) -> EngineResult: ...


class ExecutedCampaigns(Protocol):
    def executed_campaign(self, session: Session, incident_id: int) -> int | None:
        """The id of a campaign already executed for the incident, if any."""
        ...


class ImpactEngines(Protocol):
    def engine(self, name: str | None = None) -> ImpactEngine:
        """The engine called ``name`` (by default the ``impact_engine`` setting's), made
        once per process."""
        ...


IMPACT_ENGINES: Port[ImpactEngines] = Port("impact engines")
EXECUTED_CAMPAIGNS: Port[ExecutedCampaigns] = Port("executed campaigns check")
