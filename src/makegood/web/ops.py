"""Liveness, readiness and Prometheus metrics: unauthenticated, for load balancers and
scrapers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from makegood.credits.models import OFFER_STATES, LedgerEntry, Offer
from makegood.db import migrate
from makegood.incidents.models import Incident
from makegood.kits.http.deps import Svc
from makegood.kits.http.errors import ErrorResponse, error_json
from makegood.kits.ports import Port
from makegood.kits.root import Root
from makegood.messaging.models import MESSAGE_STATES, PENDING_STATES, DeliveryAttempt, Message
from makegood.reports.offer_status import status_at

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    schema_revision: str | None


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up and answering."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": ErrorResponse, "description": "The database is not usable"}},
)
def readyz(svc: Svc) -> Ready | object:
    """The database answers and is at the schema this version needs."""
    try:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = migrate.current_revision(svc.engine)
    except Exception as exc:
        return error_json(503, "not_ready", f"database unreachable: {type(exc).__name__}")
    if revision != migrate.SCHEMA_HEAD:
        return error_json(
            503, "not_ready", f"database schema is {revision}, needs {migrate.SCHEMA_HEAD}"
        )
    return Ready(status="ready", schema_revision=revision)


# --- Prometheus metrics -------------------------------------------------------------
#
# Business figures are read from the database at scrape time, so every process
# answers the same whatever it has done itself; HTTP figures are this process's own.

DELIVERY_OUTCOMES = ("sent", "retry", "failed", "suppressed")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A scrape should fail fast rather than queue behind a slow database.
STATEMENT_TIMEOUT_MS = 5000


class DatabaseCollector:
    """Counts from the outbox, offers, ledger and incidents, one GROUP BY query each;
    ``now`` is the application's clock, which decides which claim links have expired."""

    def __init__(self, engine: Engine, now: Callable[[], datetime]) -> None:
        self.engine = engine
        self.now = now

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        try:
            figures = self._read()
        except SQLAlchemyError:
            figures = None
        up = GaugeMetricFamily(
            "makegood_database_up", "1 if the last scrape read the database, else 0."
        )
        up.add_metric([], 0 if figures is None else 1)
        yield up
        if figures is not None:
            yield from figures
        took = GaugeMetricFamily(
            "makegood_metrics_read_seconds", "Time this scrape spent reading the database."
        )
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _read(self) -> list[Metric]:
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
            return [
                *_messages(conn),
                _attempts(conn),
                *_offers(conn, self.now()),
                _credits(conn),
                _incidents(conn),
            ]


def _by(conn: Connection, column: Any, known: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(known, 0)
    rows = conn.execute(select(column, func.count()).group_by(column))
    counts.update({str(key): int(n) for key, n in rows})
    return counts


def _messages(conn: Connection) -> list[Metric]:
    counts = _by(conn, Message.status, MESSAGE_STATES)
    by_status = GaugeMetricFamily(
        "makegood_messages", "Messages in the outbox by status.", labels=["status"]
    )
    for status, n in sorted(counts.items()):
        by_status.add_metric([status], n)
    depth = GaugeMetricFamily(
        "makegood_queue_depth", "Messages still to send: queued, retrying or sending."
    )
    depth.add_metric([], sum(counts[s] for s in PENDING_STATES))
    return [by_status, depth]


def _attempts(conn: Connection) -> Metric:
    counts = _by(conn, DeliveryAttempt.outcome, DELIVERY_OUTCOMES)
    family = CounterMetricFamily(
        "makegood_delivery_attempts",
        "Tries at handing a message to the SMTP relay, by outcome.",
        labels=["outcome"],
    )
    for outcome, n in sorted(counts.items()):
        family.add_metric([outcome], n)
    return family


def _offers(conn: Connection, now: datetime) -> list[Metric]:
    counts = dict.fromkeys(OFFER_STATES, 0)
    claimed = 0
    # Counted as the report counts them: a claim link past its deadline is expired.
    status = status_at(now)
    rows = conn.execute(select(status, func.count(), func.count(Offer.claimed_at)).group_by(status))
    for state, n, with_claim in rows:
        counts[str(state)] = int(n)
        claimed += int(with_claim)
    by_status = GaugeMetricFamily(
        "makegood_offers",
        "Offers by status; a claim link past its deadline counts as expired.",
        labels=["status"],
    )
    for state, n in sorted(counts.items()):
        by_status.add_metric([state], n)
    claims = CounterMetricFamily(
        "makegood_claims", "Offers claimed through their link, including any voided since."
    )
    claims.add_metric([], claimed)
    return [by_status, claims]


def _credits(conn: Connection) -> Metric:
    rows = conn.execute(
        select(LedgerEntry.currency, LedgerEntry.kind, func.sum(LedgerEntry.amount_minor))
        .group_by(LedgerEntry.currency, LedgerEntry.kind)
        .order_by(LedgerEntry.currency, LedgerEntry.kind)
    )
    family = CounterMetricFamily(
        "makegood_credits_minor",
        "Credits on the ledger in minor units of their currency, by kind: grant "
        "(automatic), claim (claimed through a link), reversal (voided; the amount taken back).",
        labels=["currency", "kind"],
    )
    for currency, kind, total in rows:
        family.add_metric([str(currency), str(kind)], abs(int(total or 0)))
    return family


def _incidents(conn: Connection) -> Metric:
    open_now = conn.scalar(select(func.count()).where(Incident.end_at.is_(None)))
    family = GaugeMetricFamily("makegood_incidents_open", "Incidents with no end yet.")
    family.add_metric([], int(open_now or 0))
    return family


@dataclass(frozen=True)
class Metrics:
    """One application's registry: the database collector and its HTTP figures."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram


METRICS: Port[Metrics] = Port("metrics", lambda root: _build(root.engine, root.now))


def metrics_of(svc: Root) -> Metrics:
    """The application's metrics, made on first use."""
    return svc.port(METRICS)


def _build(engine: Engine, now: Callable[[], datetime]) -> Metrics:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine, now))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    requests = Counter(
        "makegood_http_requests",
        "HTTP requests this process answered, by method, route template and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "makegood_http_request_duration_seconds",
        "Time this process took to answer, by method and route template.",
        ["method", "route"],
        registry=registry,
    )
    return Metrics(registry, requests, latency)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format (OpenMetrics when the Accept header asks)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(svc: Svc, request: Request) -> Response:
    """Figures for Prometheus, read from the database at scrape time."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(metrics_of(svc).registry), media_type=content_type)


class RequestMetrics:
    """ASGI middleware counting and timing requests by route template (never the raw
    path, so a claim token never becomes a label)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees if the application raises

        async def sending(message: AsgiMessage) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            _observe(scope, status, time.perf_counter() - started)


def _observe(scope: Scope, status: int, seconds: float) -> None:
    svc = getattr(scope["app"].state, "makegood", None)
    if not isinstance(svc, Root):
        return
    found = metrics_of(svc)
    method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    found.requests.labels(method, route, str(status)).inc()
    found.latency.labels(method, route).observe(seconds)


def instrument(app: FastAPI) -> None:
    """Count and time the application's requests; call it before the application
    serves (Starlette takes no middleware after). A second call changes nothing."""
    if getattr(app.state, "request_metrics", False):
        return
    app.add_middleware(RequestMetrics)
    app.state.request_metrics = True
