"""Liveness, readiness and Prometheus metrics: unauthenticated, for load balancers and
scrapers."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from makegood.api.deps import Svc
from makegood.api.errors import ErrorResponse, error_json
from makegood.db import migrate

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
