"""Small helpers that write test input files."""

from __future__ import annotations

import csv
from pathlib import Path

from makegood.customers.rules import COLUMNS

# The contract's columns without the optional billing_id (tests that want it add it).
HEADER = [c for c in COLUMNS if c not in ("billing_id", "phone", "channel")]


def customer(cid: str, **changes: str) -> dict[str, str]:
    row = {
        "customer_id": cid,
        "email": f"{cid}@example.com",
        "first_name": "Ann",
        "locale": "en-US",
        "timezone": "America/New_York",
        "country": "US",
        "status": "active",
        "plan": "basic",
        "monthly_price": "8.99",
        "currency": "USD",
        "next_bill_date": "2026-04-01",
    }
    row.update(changes)
    return row


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, header or HEADER, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path
