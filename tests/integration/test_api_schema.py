"""The OpenAPI document against the served API: schemathesis sends generated requests,
valid and invalid, to every operation with an admin key, on SQLite with a company
already in it, and checks there is no server error and that every answer (status,
content type, body) is one the document promises."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis

from makegood.access.service import create_key
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from tests.support import truth as gt
from tests.support.delivery import executed
from tests.support.delivery import settings as app_settings
from tests.support.server import MovableClock, served
from tests.support.world import build_world

EXAMPLES = 20  # per operation and phase: the whole run stays well under a minute
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "unsupported_method",
    "missing_required_header",
    "ignored_auth",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The application on a SQLite company with one executed campaign: (base URL, admin key)."""
    directory = tmp_path_factory.mktemp("schema")
    url = f"sqlite:///{directory / 'makegood.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    world = build_world(engine, directory / "data")
    executed(engine, world.shipping)
    with UnitOfWork(engine) as uow:
        _, key = create_key(uow.session, "schemathesis", "admin", gt.NOW, "setup")
        uow.commit()
    app = create_app(app_settings(url, 9), MovableClock(gt.NOW))
    with served(app) as base:
        yield base, key
    engine.dispose()


def run(
    base: str, key: str, examples: int = EXAMPLES, deterministic: bool = True
) -> tuple[list[str], dict[str, int]]:
    """Every phase of schemathesis against the served document: the failures found,
    described, and how many requests each phase sent."""
    from schemathesis.engine import Status, events, from_schema

    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Bearer {key}"},
            "generation": {
                "max-examples": examples,
                "deterministic": deterministic,
                "database": "none",
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "phases": {"stateful": {"enabled": False}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json", config=config)
    # The operators' API; the alert webhooks take their own token, not an API key.
    schema = schema.include(path_regex="^/api/").exclude(path_regex="^/api/hooks/")
    failures: list[str] = []
    sent: dict[str, int] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"{getattr(event, 'label', '')}: {event.info.message}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        phase = str(event.phase.value)
        sent[phase] = sent.get(phase, 0) + len(event.recorder.interactions)
        if event.status in (Status.FAILURE, Status.ERROR):
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        interaction = event.recorder.interactions.get(case_id)
                        status = (
                            interaction.response.status_code
                            if interaction and interaction.response
                            else "-"
                        )
                        failures.append(
                            f"{event.label} [{phase}] {check.name} -> {status}: "
                            f"{check.failure_info.failure.title}\n  {check.failure_info.code_sample}"
                        )
    return failures, sent


def test_every_answer_is_one_the_document_promises(site: tuple[str, str]) -> None:
    failures, sent = run(*site)
    print(f"requests sent by phase: {sent}")
    assert sum(sent.values()) > 500
    assert not failures, "\n".join(failures[:30])
