"""Security checks at length: schemathesis with every role's key on every API route,
following the links between operations (stateful), must meet no server error; and
after the whole run, the server's log and the database dump must hold no secret: not
the secret key, no API key, no claim token, no password.

    python chaos/security.py            # 200 examples per operation and phase
    python chaos/security.py --quick    # 10, for CI

Figures go to chaos/results/security.json: requests sent per role and phase, server
errors, and secrets found in the log (each must be 0).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import schemathesis  # noqa: E402
from sqlalchemy import select  # noqa: E402
from tests.support import truth as gt  # noqa: E402
from tests.support.delivery import executed, settings  # noqa: E402
from tests.support.server import MovableClock, served  # noqa: E402
from tests.support.world import SECRET, build_world  # noqa: E402

from makegood.access.rules import KEY_ROLES  # noqa: E402
from makegood.access.service import create_key  # noqa: E402
from makegood.console.users import add_user  # noqa: E402
from makegood.core.tokens import unseal  # noqa: E402
from makegood.db import migrate  # noqa: E402
from makegood.db.engine import make_engine  # noqa: E402
from makegood.db.uow import UnitOfWork  # noqa: E402
from makegood.entrypoints.app import create_app  # noqa: E402
from makegood.messaging.models import Message  # noqa: E402

RESULTS = ROOT / "chaos" / "results"
PASSWORD = "correct horse battery staple, twice"  # noqa: S105 - a console user made here


def schemathesis_run(base: str, key: str, examples: int) -> tuple[dict[str, int], list[str]]:
    """Every phase, stateful included, with one key: requests per phase, 5xx found."""
    from schemathesis.engine import Status, events, from_schema

    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Bearer {key}"},
            "generation": {"max-examples": examples, "database": "none"},
            "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json", config=config)
    schema = schema.include(path_regex="^/api/").exclude(path_regex="^/api/hooks/")
    sent: dict[str, int] = {}
    errors: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.info.message}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        phase = str(event.phase.value)
        sent[phase] = sent.get(phase, 0) + len(event.recorder.interactions)
        if event.status in (Status.FAILURE, Status.ERROR):
            errors.append(f"{event.label} [{phase}]")
    return sent, errors


def secrets_of(engine: Any, keys: dict[str, str]) -> dict[str, str]:
    """Everything that must never be written down in the clear."""
    found = {"secret key": SECRET, "console password": PASSWORD}
    found.update({f"{role} API key": key for role, key in keys.items()})
    with UnitOfWork(engine) as uow:
        for i, message in enumerate(uow.session.scalars(select(Message).limit(50))):
            sealed = (message.payload or {}).get("sealed_token")
            if sealed:
                found[f"claim token {i}"] = unseal(sealed, SECRET)
    return found


def leaks(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    return [
        f"{what} in {where}"
        for where, text in texts.items()
        for what, value in secrets.items()
        if value and value in text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 examples (CI)")
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS / "security.json")
    args = parser.parse_args(argv)
    examples = 10 if args.quick else args.examples
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="makegood-security-") as work:
        directory = Path(work)
        url = f"sqlite:///{directory / 'makegood.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        world = build_world(engine, directory / "data")
        executed(engine, world.shipping)
        executed(engine, world.streaming)
        keys = {}
        with UnitOfWork(engine) as uow:
            for role in KEY_ROLES:
                _, keys[role] = create_key(uow.session, f"{role}-owner", role, gt.NOW, "setup")
            add_user(uow.session, "ada", "admin", PASSWORD, gt.NOW, "setup", "Ada")
            uow.commit()
        rows = []
        with served(create_app(settings(url, 9), MovableClock(gt.NOW))) as base:
            for role, key in keys.items():
                sent, errors = schemathesis_run(base, key, examples)
                rows.append({"role": role, "requests": sent, "server_errors": errors})
                print(f"{role:<9} requests {sum(sent.values()):>6} {sent}  5xx: {len(errors)}")
        dump = "\n".join(sqlite3.connect(directory / "makegood.db").iterdump())
        found = leaks(
            {"the server log": log.getvalue(), "the database": dump}, secrets_of(engine, keys)
        )
        engine.dispose()
    record = {
        "examples": examples,
        "roles": rows,
        "server_errors": sum(len(r["server_errors"]) for r in rows),
        "secrets_found": found,
        "log_lines": len(log.getvalue().splitlines()),
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"server errors: {record['server_errors']}; secrets found: {found or 'none'}")
    return 0 if not record["server_errors"] and not found else 1


if __name__ == "__main__":
    sys.exit(main())
