"""The operators' HTTP API over real HTTP (uvicorn on 127.0.0.1, httpx), with API keys
of every role, on SQLite and PostgreSQL: from declaring an incident to the audit log."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select

from makegood.access.service import create_key, revoke
from makegood.config import Settings
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from tests.support import truth as gt
from tests.support.delivery import send, settings
from tests.support.server import MovableClock, served
from tests.support.world import SEED_POLICY

# Over this budget the plan needs two different approvers.
BUDGET_POLICY = SEED_POLICY + 'budget = { USD = "1.00" }\n'
OWNERS = {
    "vera": "viewer",
    "otto": "operator",
    "alice": "approver",
    "bob": "approver",
    "ada": "admin",
}


@dataclass
class Api:
    client: httpx.Client
    keys: dict[str, str]
    clock: MovableClock
    engine: Engine
    config: Settings

    def call(self, method: str, path: str, who: str | None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {self.keys[who]}"
        return self.client.request(method, path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, who: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, who, **kwargs)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture
def api(engine, database_url, world, sink):
    _, port = sink
    keys: dict[str, str] = {}
    with UnitOfWork(engine) as uow:
        for owner, role in OWNERS.items():
            _, keys[owner] = create_key(uow.session, owner, role, gt.NOW, "setup")
        gone, keys["revoked"] = create_key(uow.session, "rex", "admin", gt.NOW, "setup")
        uow.commit()
    with UnitOfWork(engine) as uow:
        revoke(uow.session, gone.id, gt.NOW, "setup")
        uow.commit()
    clock = MovableClock(gt.NOW)
    config = settings(database_url, port)
    with served(create_app(config, clock)) as base, httpx.Client(base_url=base, timeout=60) as c:
        yield Api(c, keys, clock, engine, config)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    return body["error"]


def declaration(**fields: Any) -> dict[str, Any]:
    return {
        "services": ["shipping"],
        "start": gt.SHIP_START.isoformat(),
        "end": gt.SHIP_END.isoformat(),
        "title": "Warehouse down",
        "summary": "Our warehouse system was down for most of Monday.",
        **fields,
    }


def test_requests_without_a_valid_key_are_refused(api):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        error = error_of(api.client.get("/api/incidents", headers=headers), 401)
        assert error["code"] == "unauthorized"
    refused = api.call("GET", "/api/incidents", "revoked")
    assert error_of(refused, 401)["message"] == "the API key is not valid or was revoked"
    assert refused.headers["www-authenticate"] == "Bearer"
    assert api.call("GET", "/api/incidents", "vera").status_code == 200


def test_each_role_may_do_only_its_part(api, world):
    forbidden = api.call("POST", "/api/incidents", "vera", json=declaration())
    error = error_of(forbidden, 403)
    assert error["code"] == "forbidden" and "operator" in error["message"]
    assert error_of(api.call("POST", "/api/billing/exports", "vera"), 403)["code"] == "forbidden"
    declared = api.ok("POST", "/api/incidents", "otto", 201, json=declaration())
    api.ok("POST", f"/api/incidents/{declared['id']}/impact-runs", "ada", 201)
    planned = api.ok(
        "POST",
        "/api/campaigns",
        "otto",
        201,
        json={"incident_id": declared["id"], "policy": SEED_POLICY},
    )
    # Approving takes the approver role; an operator may not approve its own plan.
    error_of(api.call("POST", f"/api/campaigns/{planned['id']}/approve", "otto"), 403)
    approved = api.ok("POST", f"/api/campaigns/{planned['id']}/approve", "ada")
    assert approved["status"] == "approved" and approved["approvers"] == ["ada"]


def test_the_whole_flow_from_declaration_to_the_audit_log(api, world):
    t = world.truth
    cancelled = [c for c in t.shipping_confirmed if c.startswith("cancelled")]
    expected = len(t.shipping_confirmed) - len(cancelled)
    assert expected >= 2

    declared = api.ok("POST", "/api/incidents", "otto", 201, json=declaration(cause="third_party"))
    incident = declared["id"]
    assert declared["start"] == gt.SHIP_START.isoformat() and declared["cause"] == "third_party"

    run = api.ok("POST", f"/api/incidents/{incident}/impact-runs", "otto", 201)
    assert (run["confirmed"], run["possible"]) == (len(t.shipping_confirmed), 0)
    shown = api.ok("GET", f"/api/incidents/{incident}", "vera")
    assert shown["affected"] == {"confirmed": len(t.shipping_confirmed), "possible": 0}
    impacts = api.ok("GET", f"/api/incidents/{incident}/impacts?limit=2", "vera")
    assert impacts["total"] == len(t.shipping_confirmed) and impacts["next_offset"] == 2
    assert {i["rule"] for i in impacts["items"]} == {"late_shipment"}

    plan = {"incident_id": incident, "policy": BUDGET_POLICY, "holdout_percent": "0"}
    campaign = api.ok("POST", "/api/campaigns", "otto", 201, json=plan)
    cid = campaign["id"]
    total = Decimal("0.77") * expected
    assert campaign["status"] == "draft" and campaign["approvals_needed"] == 2
    assert campaign["offers"] == campaign["automatic"] == expected
    assert campaign["excluded"] == len(cancelled)
    assert campaign["totals"] == {"USD": f"{total:.2f}"}
    assert campaign["over_budget"] == {"USD": f"{total:.2f}"}

    letter = api.ok("GET", f"/api/campaigns/{cid}/preview", "vera")
    assert letter["subject"] and letter["headers"]["Subject"] == letter["subject"]
    assert letter["headers"]["To"] and letter["html"].lstrip().startswith("<")
    one = api.ok("GET", f"/api/campaigns/{cid}/preview?customer_id={letter['customer_id']}", "vera")
    assert one["text"] == letter["text"]
    error_of(api.call("GET", f"/api/campaigns/{cid}/preview?customer_id=nobody", "vera"), 404)

    # Over budget: two different owners approve; the same owner twice is refused.
    first = api.ok("POST", f"/api/campaigns/{cid}/approve", "alice")
    assert first["status"] == "draft" and first["approvers"] == ["alice"]
    again = error_of(api.call("POST", f"/api/campaigns/{cid}/approve", "alice"), 409)
    assert "different approver" in again["message"]
    refused = error_of(api.call("POST", f"/api/campaigns/{cid}/execute", "otto"), 409)
    assert "needs approval" in refused["message"]
    second = api.ok("POST", f"/api/campaigns/{cid}/approve", "bob")
    assert second["status"] == "approved" and second["approvers"] == ["alice", "bob"]

    executed = api.ok("POST", f"/api/campaigns/{cid}/execute", "otto")
    assert executed == {"granted": expected, "offered": 0, "messages": expected}
    assert api.ok("POST", f"/api/campaigns/{cid}/execute", "otto") == {
        "granted": 0,
        "offered": 0,
        "messages": 0,
    }
    error_of(api.call("POST", f"/api/campaigns/{cid}/cancel", "otto"), 409)
    send(api.engine, api.config)

    messages = api.ok("GET", f"/api/messages?campaign_id={cid}&status=sent&limit=2", "vera")
    assert messages["total"] == expected and messages["next_offset"] == 2
    message = api.ok("GET", f"/api/messages/{messages['items'][0]['id']}", "vera")
    assert [a["outcome"] for a in message["delivery"]] == ["sent"]
    assert message["sent_at"].endswith("+00:00") and "payload" not in message

    customer = api.ok("GET", f"/api/customers/{message['customer_id']}", "vera")
    assert {world.shipping, incident} <= {i["incident_id"] for i in customer["impacts"]}
    assert [(o["status"], o["amount"], o["currency"]) for o in customer["offers"]] == [
        ("granted", "0.77", "USD")
    ]
    assert customer["messages"][0]["delivery"][0]["outcome"] == "sent"
    assert [(e["kind"], e["amount"], e["export_batch"]) for e in customer["ledger"]] == [
        ("grant", "0.77", None)
    ]
    assert customer["balance"] == {"USD": "0.77"}
    error_of(api.call("GET", "/api/customers/nobody", "vera"), 404)

    api.clock.instant = gt.NOW + timedelta(days=1)
    exported = api.ok("POST", "/api/billing/exports", "otto", 201)
    batch = exported["batch_id"]
    assert exported["exported"] == len(exported["rows"]) == expected
    assert set(exported["rows"][0]) == {
        "credit_id",
        "customer_id",
        "amount",
        "currency",
        "statement_date",
        "incident_id",
        "description",
    }
    assert sum(Decimal(r["amount"]) for r in exported["rows"]) == total
    nothing = api.ok("POST", "/api/billing/exports", "otto", 200)
    assert nothing == {"batch_id": None, "exported": 0, "rows": []}
    as_csv = api.call("GET", f"/api/billing/exports/{batch}?format=csv", "vera")
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["credit_id"] for r in lines] == [r["credit_id"] for r in exported["rows"]]
    negotiated = api.call(
        "GET", f"/api/billing/exports/{batch}", "vera", headers={"Accept": "text/csv"}
    )
    assert negotiated.text == as_csv.text
    again = api.ok("GET", f"/api/billing/exports/{batch}", "vera")
    assert again["rows"] == exported["rows"] and again["actor"] == "otto"
    looked_up = api.ok("GET", f"/api/customers/{message['customer_id']}", "vera")
    assert looked_up["ledger"][0]["export_batch"] == batch

    report = api.ok("GET", f"/api/reports/{incident}", "vera")
    assert report["affected"] == {
        "confirmed": len(t.shipping_confirmed),
        "possible": 0,
        "total": len(t.shipping_confirmed),
    }
    assert report["campaign"] == {"id": cid, "status": "done"}
    assert report["excluded"]["total"] == len(cancelled)
    assert report["offers"] == {"automatic": {"granted": expected}}
    assert report["messages"]["sent"] == expected and report["messages"]["queued"] == 0
    assert report["claims"] == {"offered": 0, "claimed": 0, "rate": None}
    assert report["credits"] == {
        "USD": {
            "granted": f"{total:.2f}",
            "claimed": "0.00",
            "reversed": "0.00",
            "net": f"{total:.2f}",
        }
    }

    trail = api.ok("GET", f"/api/audit?object_type=campaign&object_id={cid}&order=oldest", "vera")[
        "items"
    ]
    assert [(e["action"], e["actor"]) for e in trail] == [
        ("campaign.planned", "otto"),
        ("campaign.approved", "alice"),
        ("campaign.approved", "bob"),
        ("campaign.executing", "otto"),
        ("campaign.done", "otto"),
    ]
    assert trail[1]["before"] == {"status": "draft", "approvers": []}
    assert trail[1]["after"] == {"status": "draft", "approvers": ["alice"]}
    assert trail[2]["after"] == {"status": "approved", "approvers": ["alice", "bob"]}
    assert trail[0]["after"]["offers"] == expected and trail[0]["at"] == gt.NOW.isoformat()
    declared_entry = api.ok("GET", "/api/audit?action=incident.declared&actor=otto", "vera")
    assert declared_entry["total"] == 1
    assert declared_entry["items"][0]["after"]["title"] == "Warehouse down"
    ran = api.ok("GET", f"/api/audit?action=impact.run&object_id={incident}", "vera")["items"]
    assert ran[0]["actor"] == "otto" and ran[0]["after"]["confirmed"] == len(t.shipping_confirmed)
    offers = api.ok("GET", "/api/audit?action=offer.granted&limit=1", "vera")
    assert offers["total"] == expected and offers["next_offset"] == 1
    later = api.ok("GET", "/api/audit", "vera", params={"since": api.clock.instant.isoformat()})
    assert [(e["action"], e["actor"]) for e in later["items"]] == [("billing.exported", "otto")]
    assert later["items"][0]["after"]["entries"] == expected
    assert later["items"][0]["after"]["totals"] == {"USD": f"{total:.2f}"}


def test_import_is_all_or_nothing_and_audited(api, world):
    known = world.truth.customers[0]
    header = list(known)
    fresh = {**known, "customer_id": "new-0001", "email": "new-0001@example.com"}
    good = io.StringIO()
    writer = csv.DictWriter(good, header)
    writer.writeheader()
    writer.writerows([{**known, "first_name": "Samantha"}, fresh])
    files = {"file": ("customers.csv", good.getvalue().encode(), "text/csv")}
    assert api.ok("POST", "/api/customers/import", "otto", files=files) == {
        "imported": 1,
        "updated": 1,
    }
    updated = api.ok("GET", f"/api/customers/{known['customer_id']}", "vera")
    assert updated["first_name"] == "Samantha" and updated["monthly_price"] == "15.49"

    bad = io.StringIO()
    writer = csv.DictWriter(bad, header)
    writer.writeheader()
    writer.writerows(
        [
            {**fresh, "customer_id": "new-0002", "currency": "XYZ"},
            {**fresh, "customer_id": "new-0003", "email": "not an address"},
        ]
    )
    files = {"file": ("more.csv", bad.getvalue().encode(), "text/csv")}
    error = error_of(api.call("POST", "/api/customers/import", "otto", files=files), 422)
    assert error["field"] == "file" and "nothing was imported" in error["message"]
    assert "more.csv, row 1 (line 2), column currency" in error["message"]
    assert "row 2 (line 3), column email" in error["message"]
    assert "/tmp" not in error["message"]
    with UnitOfWork(api.engine) as uow:
        count = uow.session.scalar(select(func.count()).select_from(Customer))
    assert count == len(world.truth.customers) + 1

    parquet_row = {**fresh, "customer_id": "pq-0001", "email": "pq-0001@example.com"}
    table = pa.table({k: [v] for k, v in parquet_row.items()})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    files = {"file": ("upload", buffer.getvalue(), "application/octet-stream")}
    assert api.ok("POST", "/api/customers/import", "otto", files=files)["imported"] == 1

    found = api.ok("GET", "/api/customers", "vera", params={"email": "NEW-0001@example.com"})
    assert [c["customer_id"] for c in found["items"]] == ["new-0001"]
    audit = "/api/audit?action=customers.imported&actor=otto&order=oldest"
    imports = api.ok("GET", audit, "vera")["items"]
    assert [(e["actor"], e["object_id"], e["after"]) for e in imports] == [
        ("otto", "customers.csv", {"rows": 2, "imported": 1, "updated": 1}),
        ("otto", "upload.parquet", {"rows": 1, "imported": 1, "updated": 0}),
    ]


def test_lists_are_paginated(api, world):
    first = api.ok("GET", "/api/incidents?limit=1", "vera")
    assert (first["total"], first["limit"], first["offset"], first["next_offset"]) == (2, 1, 0, 1)
    assert first["items"][0]["id"] == world.streaming  # newest first
    assert first["items"][0]["affected"]["confirmed"] == len(world.truth.streaming_confirmed)
    last = api.ok("GET", "/api/incidents?limit=1&offset=1", "vera")
    assert last["next_offset"] is None and last["items"][0]["id"] == world.shipping
    beyond = api.ok("GET", "/api/incidents?offset=5", "vera")
    assert beyond["items"] == [] and beyond["next_offset"] is None

    customers = api.ok("GET", "/api/customers?limit=500", "vera")
    assert customers["total"] == len(world.truth.customers)
    ids = [c["customer_id"] for c in customers["items"]]
    assert ids == sorted(ids)
    paged: list[str] = []
    offset: int | None = 0
    while offset is not None:
        chunk = api.ok("GET", f"/api/customers?limit=7&offset={offset}", "vera")
        paged += [c["customer_id"] for c in chunk["items"]]
        offset = chunk["next_offset"]
    assert paged == ids

    for query, field in (("limit=0", "limit"), ("limit=501", "limit"), ("offset=-1", "offset")):
        error = error_of(api.call("GET", f"/api/incidents?{query}", "vera"), 422)
        assert error["field"] == field and error["code"] == "invalid_input"


def test_errors_name_the_field(api, world):
    end_first = api.call(
        "POST",
        "/api/incidents",
        "otto",
        json=declaration(start=gt.SHIP_END.isoformat(), end=gt.SHIP_START.isoformat()),
    )
    error = error_of(end_first, 422)
    assert error["field"] == "end" and "must be after start" in error["message"]
    for fields, field in (
        ({"start": "2026-03-09T05:00:00"}, "start"),
        ({"start": "Monday"}, "start"),
        ({"services": ["Ship ping"]}, "services"),
        ({"services": []}, "services"),
        ({"severity": "huge"}, "severity"),
        ({"title": "  "}, "title"),
        ({"cause": "Third Party"}, "cause"),
        ({"summaries": {"xx-nowhere-at-all": "Hallo"}}, "summaries"),
        ({"colour": "red"}, "colour"),
        ({"services": "shipping"}, "services"),
    ):
        error = error_of(
            api.call("POST", "/api/incidents", "otto", json=declaration(**fields)), 422
        )
        assert error["field"] == field, (fields, error)
    assert error_of(api.call("POST", "/api/incidents", "otto", content=b"{"), 422)["code"] == (
        "invalid_input"
    )

    ongoing = api.ok("POST", "/api/incidents", "otto", 201, json=declaration(end=None))
    assert ongoing["end"] is None and ongoing["resolved_at"] is None
    early = {"end": (gt.SHIP_START - timedelta(hours=1)).isoformat()}
    error = error_of(
        api.call("POST", f"/api/incidents/{ongoing['id']}/resolve", "otto", json=early), 422
    )
    assert error["field"] == "end"
    resolved = api.ok("POST", f"/api/incidents/{ongoing['id']}/resolve", "otto")
    assert resolved["end"] == gt.NOW.isoformat()
    error_of(api.call("POST", f"/api/incidents/{ongoing['id']}/resolve", "otto"), 409)
    assert error_of(api.call("GET", "/api/incidents/999999", "vera"), 404)["code"] == "not_found"

    broken = {"incident_id": world.shipping, "policy": "name = 'x'\n[[rules]]\nname = 1\n"}
    error = error_of(api.call("POST", "/api/campaigns", "otto", json=broken), 422)
    assert error["field"] == "policy" and "rules[1]" in error["message"]
    for holdout in ("abc", "100", "-1"):
        plan = {"incident_id": world.shipping, "policy": SEED_POLICY, "holdout_percent": holdout}
        error = error_of(api.call("POST", "/api/campaigns", "otto", json=plan), 422)
        assert error["field"] == "holdout_percent"
    plan = {"incident_id": world.shipping, "policy": SEED_POLICY, "holdout_percent": 10}
    assert error_of(api.call("POST", "/api/campaigns", "otto", json=plan), 422)["field"] == (
        "holdout_percent"
    )
    missing = {"incident_id": 999999, "policy": SEED_POLICY}
    assert error_of(api.call("POST", "/api/campaigns", "otto", json=missing), 404)["code"] == (
        "not_found"
    )
