"""The impacts store writes exactly what the engine found, on SQLite and on PostgreSQL
(where the rows travel in COPY's text format): values with tabs, newlines, carriage
returns, backslashes, quotes, a literal backslash-N and non-ASCII come back unchanged."""

from __future__ import annotations

import json
from datetime import timedelta

import pyarrow as pa
from sqlalchemy import select

from makegood.db.uow import UnitOfWork
from makegood.impact.models import Impact
from makegood.impact.store import replace_impacts
from makegood.incidents.service import Declaration, declare
from tests.support.truth import NOW

AWKWARD = [
    "plain",
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    '"quoted", with comma',
    "Zoë 東京 🙂",
    "",
]


def batch(customers: list[str], evidence: list[str]) -> pa.RecordBatch:
    n = len(customers)
    return pa.RecordBatch.from_pydict(
        {
            "customer_id": customers,
            "confidence": ["confirmed"] * n,
            "magnitude": pa.array(range(1, n + 1), pa.int64()),
            "rule": ["late_shipment"] * n,
            "evidence": evidence,
        }
    )


def test_awkward_values_are_stored_unchanged(engine):
    with UnitOfWork(engine) as uow:
        outage = Declaration(["shipping"], NOW - timedelta(hours=1), NOW, "Outage")
        incident = declare(uow.session, outage, NOW, "cx").id
        uow.commit()
    customers = [f"c-{i}-{value}" for i, value in enumerate(AWKWARD)]
    evidence = [json.dumps({"note": value}, ensure_ascii=False) + value for value in AWKWARD]
    plain = batch([f"p{i}" for i in range(5)], ["{}"] * 5)  # a batch that needs no escape
    with UnitOfWork(engine) as uow:
        counts = replace_impacts(uow.session, incident, [batch(customers, evidence), plain])
        uow.commit()
    assert counts == {"confirmed": len(AWKWARD) + 5, "possible": 0}
    with UnitOfWork(engine) as uow:
        rows = uow.session.execute(
            select(Impact.customer_id, Impact.magnitude, Impact.evidence).where(
                Impact.incident_id == incident
            )
        ).all()
    stored = {customer: (magnitude, text) for customer, magnitude, text in rows}
    assert stored == {
        **{c: (i + 1, e) for i, (c, e) in enumerate(zip(customers, evidence, strict=True))},
        **{f"p{i}": (i + 1, "{}") for i in range(5)},
    }
