"""Console: a campaign executed in the background, once per process, with its outcome
kept for the page that started it."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from makegood.campaigns import service as campaigns
from makegood.campaigns.execution import execute
from makegood.core.errors import ConflictError, MakegoodError
from makegood.db.uow import UnitOfWork
from makegood.kits.ports import Port
from makegood.kits.root import Root

log = logging.getLogger(__name__)


@dataclass
class Execution:
    """An execution this process started: one thread, whoever pressed the button."""

    by: str
    started: datetime
    thread: threading.Thread | None = None
    error: str | None = None
    finished: bool = False
    result: dict[str, int] = field(default_factory=dict)


RUNS: Port[dict[int, Execution]] = Port("console executions", lambda _: {})
RUNS_LOCK: Port[threading.Lock] = Port("console executions lock", lambda _: threading.Lock())


def runs(svc: Root) -> dict[int, Execution]:
    return svc.port(RUNS)


def _runs_lock(svc: Root) -> threading.Lock:
    return svc.port(RUNS_LOCK)


def running(svc: Root, campaign_id: int) -> bool:
    run = runs(svc).get(campaign_id)
    return run is not None and not run.finished


def start_execution(svc: Root, campaign_id: int, actor: str) -> str:
    """Start executing in a background thread, at most once at a time per campaign in
    this process; the use case's row lock and status guard cover other processes.
    Returns what to tell the person who pressed the button."""
    with _runs_lock(svc):
        if running(svc, campaign_id):
            return "already"
        with UnitOfWork(svc.engine) as uow:
            status = campaigns.get(uow.session, campaign_id).status
        if status == "done":
            return "done"
        if status not in ("approved", "executing"):
            reason = "needs approval first" if status == "draft" else "was cancelled"
            raise ConflictError(f"Campaign {campaign_id} is {status}: it {reason}.")
        run = Execution(by=actor, started=svc.now())
        run.thread = threading.Thread(
            target=_execute,
            args=(svc, campaign_id, run),
            name=f"execute-{campaign_id}",
            daemon=True,
        )
        runs(svc)[campaign_id] = run
        run.thread.start()
    return "started"


def _execute(svc: Root, campaign_id: int, run: Execution) -> None:
    try:
        result = execute(
            svc.engine, campaign_id, svc.now(), run.by, svc.settings.secret_key.get_secret_value()
        )
        run.result = {
            "granted": result.granted,
            "offered": result.offered,
            "messages": result.messages,
        }
    except MakegoodError as exc:
        run.error = exc.message
    except Exception as exc:  # the page must say it stopped, whatever stopped it
        log.exception("executing campaign %s failed", campaign_id)
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        run.finished = True


# ---------------------------------------------------------------- the email preview
