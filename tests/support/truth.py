"""A dataset whose impacts are known in advance, built one scenario at a time.

Every customer belongs to one scenario; each scenario states whether the streaming
or the shipping incident hurt that customer, how surely and how much. The US
switches to daylight time on 2026-03-08, between the streaming window and the
four weeks before it, so "the same evening one week earlier" is 167 hours before,
not 168: a rule that shifts by UTC weeks gets the New York customers wrong.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from makegood.customers.rules import COLUMNS

# Monday 9 March 2026, 20:30-22:30 in New York (EDT, a day after the switch).
STREAM_START = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)
STREAM_END = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)
# Most of that Monday: 00:00-22:00 in New York.
SHIP_START = datetime(2026, 3, 9, 5, 0, tzinfo=UTC)
SHIP_END = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
NY, LONDON, TOKYO = "America/New_York", "Europe/London", "Asia/Tokyo"
DAY = timedelta(days=1)


@dataclass
class Truth:
    customers: list[dict[str, str]] = field(default_factory=list)
    events: list[tuple[str, datetime, str, str]] = field(default_factory=list)
    shipments: list[tuple[str, str, datetime, datetime | None]] = field(default_factory=list)
    streaming_confirmed: dict[str, int] = field(default_factory=dict)  # id -> errors
    streaming_possible: set[str] = field(default_factory=set)
    shipping_confirmed: dict[str, int] = field(default_factory=dict)  # id -> days late
    unknown_ids: set[str] = field(default_factory=set)


class Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.truth = Truth()
        self.orders = 0

    def customer(self, scenario: str, zone: str = NY, status: str = "active") -> str:
        cid = f"{scenario}-{len(self.truth.customers):04d}"
        self.truth.customers.append(
            {
                "customer_id": cid,
                "email": f"{cid}@example.com",
                "first_name": "Sam",
                "locale": "en-US",
                "timezone": zone,
                "country": "US",
                "status": status,
                "plan": "standard",
                "monthly_price": "15.49",
                "currency": "USD",
                "next_bill_date": "2026-03-20",
            }
        )
        # Background use far from every window (Thursdays at noon UTC), as real
        # customers have; it must never count as a habit or as harm.
        for week in range(5):
            at = datetime(2026, 2, 12, 12, tzinfo=UTC) + timedelta(weeks=week)
            self.event(cid, at, "ok")
        return cid

    def event(self, cid: str, at: datetime, outcome: str, service: str = "streaming") -> None:
        self.truth.events.append((cid, at, service, outcome))

    def in_window(self) -> datetime:
        minutes = int((STREAM_END - STREAM_START).total_seconds() // 60)
        return STREAM_START + timedelta(minutes=self.rng.randrange(minutes))

    def habit(
        self,
        cid: str,
        zone: str,
        local_hour: int,
        local_minute: int,
        weeks: list[int],
        weekday_offset: int = 0,
        service: str = "streaming",
    ) -> None:
        """Use at the same local wall-clock time on Monday 9 March minus k weeks."""
        local = datetime(
            2026, 3, 9 + weekday_offset, local_hour, local_minute, tzinfo=ZoneInfo(zone)
        )
        for k in weeks:
            self.event(cid, (local - timedelta(weeks=k)).astimezone(UTC), "ok", service)

    def weeks(self, low: int, high: int) -> list[int]:
        return sorted(self.rng.sample([1, 2, 3, 4], self.rng.randint(low, high)))

    def shipment(self, cid: str, due: datetime, shipped: datetime | None) -> None:
        self.orders += 1
        self.truth.shipments.append((cid, f"o{self.orders:05d}", due, shipped))

    def due_in_window(self) -> datetime:
        minutes = int((SHIP_END - SHIP_START).total_seconds() // 60)
        return SHIP_START + timedelta(minutes=self.rng.randrange(minutes))


def _days_late(due: datetime, shipped: datetime) -> int:
    return max(1, int((shipped - due).total_seconds()) // 86400)


def build(seed: int = 20260309) -> Truth:
    b = Builder(seed)
    t = b.truth
    n = lambda: b.rng.randint(3, 7)  # noqa: E731

    # --- streaming -------------------------------------------------------------
    for _ in range(n()):  # errors in the window: confirmed, magnitude = errors
        cid = b.customer("err", b.rng.choice([NY, LONDON, TOKYO]))
        errors = b.rng.randint(1, 4)
        for _ in range(errors):
            b.event(cid, b.in_window(), "error")
        b.event(cid, b.in_window(), "ok")
        t.streaming_confirmed[cid] = errors
    for _ in range(n()):  # cancelled customers are still hurt; policy decides later
        cid = b.customer("errcancelled", status="cancelled")
        b.event(cid, b.in_window(), "error")
        t.streaming_confirmed[cid] = 1
    cid = b.customer("errstart")  # the window includes its start...
    b.event(cid, STREAM_START, "error")
    t.streaming_confirmed[cid] = 1
    cid = b.customer("errend")  # ...and excludes its end
    b.event(cid, STREAM_END, "error")
    b.event(cid, STREAM_START - timedelta(minutes=1), "error")
    for _ in range(n()):  # ok-only in the window: not hurt, however habitual
        cid = b.customer("okonly", b.rng.choice([NY, LONDON]))
        b.event(cid, b.in_window(), "ok")
        b.habit(cid, NY, 21, 0, [1, 2, 3, 4])
    for _ in range(n()):  # New York habit at 22:00 local: 03:00Z before the switch
        cid = b.customer("habitny", NY)
        b.habit(cid, NY, 22, 0, b.weeks(2, 4))
        t.streaming_possible.add(cid)
    for _ in range(n()):  # 20:00 local before the switch = 01:00Z: only a UTC shift sees it
        cid = b.customer("utconly", NY)
        b.habit(cid, NY, 20, 0, [1, 2, 3, 4])
    for _ in range(n()):  # London has not switched yet: 00:45 local, Tuesday
        cid = b.customer("habitlondon", LONDON)
        b.habit(cid, LONDON, 0, 45, b.weeks(2, 4), weekday_offset=1)
        t.streaming_possible.add(cid)
    for _ in range(n()):  # Tokyo, no DST: 10:00 local, Tuesday
        cid = b.customer("habittokyo", TOKYO)
        b.habit(cid, TOKYO, 10, 0, b.weeks(2, 4), weekday_offset=1)
        t.streaming_possible.add(cid)
    for _ in range(n()):  # one earlier week is not a habit
        cid = b.customer("oneweek", NY)
        b.habit(cid, NY, 21, 30, b.weeks(1, 1))
    for _ in range(n()):  # a habit on another service is not harm to streaming
        cid = b.customer("otherservice", NY)
        b.habit(cid, NY, 21, 30, [1, 2, 3, 4], service="browse")
    for _ in range(n()):  # habitual and failed: the certain finding wins
        cid = b.customer("habiterr", NY)
        b.habit(cid, NY, 21, 0, [1, 2, 3])
        b.event(cid, b.in_window(), "error")
        t.streaming_confirmed[cid] = 1
    for _ in range(n()):
        b.customer("quiet", b.rng.choice([NY, LONDON, TOKYO]))
    for i in range(3):  # events from ids the company never sent us
        ghost = f"ghost-{i}"
        b.event(ghost, b.in_window(), "error")
        t.unknown_ids.add(ghost)

    # --- shipping ------------------------------------------------------------------
    def late(scenario: str, hours: list[float | None], status: str = "active") -> None:
        for _ in range(n()):
            cid = b.customer(scenario, status=status)
            worst = 0
            for h in hours:
                due = b.due_in_window()
                shipped = None if h is None else due + timedelta(hours=h)
                b.shipment(cid, due, shipped)
                if shipped is None or shipped > NOW:
                    worst = max(worst, _days_late(due, NOW))
                elif shipped > due:
                    worst = max(worst, _days_late(due, shipped))
            if worst:
                t.shipping_confirmed[cid] = worst

    late("late1", [30])
    late("late2", [50])
    late("latehours", [2])
    late("ontime", [-3])
    late("exactlydue", [0])
    late("unshipped", [None])
    late("shippedafternow", [24 * 6])
    late("mixed", [-1, 50])
    late("twolate", [30, 55])
    late("cancelledlate", [30], status="cancelled")
    for _ in range(n()):  # late, but due outside the window
        cid = b.customer("outside")
        b.shipment(cid, SHIP_START - timedelta(minutes=1), SHIP_START + DAY * 2)
        b.shipment(cid, SHIP_END, SHIP_END + DAY * 2)
    b.shipment("ghost-ship", b.due_in_window(), None)
    t.unknown_ids.add("ghost-ship")
    return t


CUSTOMER_COLUMNS = list(COLUMNS)


def write(t: Truth, directory: Path, fmt: str) -> dict[str, Path]:
    """Write customers.csv plus usage_events and shipments as CSV or Parquet."""
    directory.mkdir(parents=True, exist_ok=True)
    customers = directory / "customers.csv"
    with customers.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, CUSTOMER_COLUMNS)
        writer.writeheader()
        writer.writerows(t.customers)
    zones = {c["customer_id"]: c["timezone"] for c in t.customers}
    if fmt == "csv":
        events, shipments = directory / "usage_events.csv", directory / "shipments.csv"
        with events.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["customer_id", "occurred_at", "service", "outcome", "device", "region"])
            for i, (cid, at, service, outcome) in enumerate(t.events):
                # Alternate Z and the customer's own offset: both are instants.
                shown = (
                    at.astimezone(ZoneInfo(zones.get(cid, NY))).isoformat()
                    if i % 2
                    else at.strftime("%Y-%m-%dT%H:%M:%SZ")
                )
                w.writerow([cid, shown, service, outcome, "tv", "" if i % 3 else "na"])
        with shipments.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["customer_id", "order_id", "due_at", "shipped_at"])
            for cid, order, due, shipped in t.shipments:
                w.writerow([cid, order, due.isoformat(), shipped.isoformat() if shipped else ""])
        return {"customers": customers, "usage_events": events, "shipments": shipments}
    ts = pa.timestamp("us", tz="UTC")
    events, shipments = directory / "usage_events.parquet", directory / "shipments.parquet"
    pq.write_table(
        pa.table(
            {
                "customer_id": [e[0] for e in t.events],
                "occurred_at": pa.array([e[1] for e in t.events], ts),
                "service": [e[2] for e in t.events],
                "outcome": [e[3] for e in t.events],
                "device": ["tv"] * len(t.events),
                "region": pa.array([None] * len(t.events), pa.string()),
            }
        ),
        events,
    )
    pq.write_table(
        pa.table(
            {
                "customer_id": [s[0] for s in t.shipments],
                "order_id": [s[1] for s in t.shipments],
                "due_at": pa.array([s[2] for s in t.shipments], ts),
                "shipped_at": pa.array([s[3] for s in t.shipments], ts),
            }
        ),
        shipments,
    )
    return {"customers": customers, "usage_events": events, "shipments": shipments}
