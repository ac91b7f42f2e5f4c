"""Alertmanager's webhook over real HTTP (uvicorn on 127.0.0.1), on SQLite and
PostgreSQL: alerts open incidents once per fingerprint and end them once."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from makegood.audit.models import AuditEntry
from makegood.config import Settings, WebSettings
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.incidents.alerts import MAX_ALERTS
from makegood.incidents.models import AlertLink, Incident
from tests.support.server import MovableClock, served
from tests.support.world import SECRET

TOKEN = "am-token-5f0c2e9b7d4a"
NOW = datetime(2026, 3, 5, 4, 0, tzinfo=UTC)
STARTS = "2026-03-04T19:30:12.739266876-05:00"  # Alertmanager's nanoseconds, an offset
STARTED = datetime(2026, 3, 5, 0, 30, 12, 739266, tzinfo=UTC)
ENDS = "2026-03-05T03:30:00Z"
ENDED = datetime(2026, 3, 5, 3, 30, tzinfo=UTC)
PATH = "/api/hooks/alertmanager"


def alert(status: str = "firing", fingerprint: str = "1a30ba71cca2921f", **labels: str) -> dict:
    """One alert as Alertmanager writes it; labels given replace the defaults."""
    base = {
        "alertname": "PlaybackErrors",
        "makegood_service": "streaming",
        "severity": "critical",
        "makegood_region": "us-east, eu-west",
    }
    base.update(labels)
    return {
        "status": status,
        "labels": {k: v for k, v in base.items() if v},
        "annotations": {
            "summary": "Videos would not start",
            "description": "Playback failed for many members.",
        },
        "startsAt": STARTS,
        "endsAt": ENDS if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }


def notification(*alerts: dict) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": '{}:{alertname="PlaybackErrors"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "makegood",
        "groupLabels": {"alertname": "PlaybackErrors"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": list(alerts),
    }


def app_for(database_url: str, token: str = TOKEN):
    config = Settings(
        database_url=database_url,
        secret_key=SECRET,
        web=WebSettings(alertmanager_token=token, claim_rate_per_minute=0),
    )
    return create_app(config, MovableClock(NOW))


@pytest.fixture
def hook(engine, database_url):
    """An httpx client on the served application, the token already set."""
    with (
        served(app_for(database_url)) as base,
        httpx.Client(
            base_url=base, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as client,
    ):
        yield client


def incidents(engine) -> list[Incident]:
    with UnitOfWork(engine) as uow:
        return list(uow.session.scalars(select(Incident).order_by(Incident.id)))


def audit_actions(engine) -> Counter[tuple[str, str]]:
    with UnitOfWork(engine) as uow:
        rows = uow.session.execute(select(AuditEntry.actor, AuditEntry.action)).all()
    return Counter((actor, action) for actor, action in rows)


def test_a_firing_alert_opens_one_incident_from_its_labels_and_annotations(engine, hook):
    answer = hook.post(PATH, json=notification(alert()))
    assert answer.status_code == 200, answer.text
    [incident] = incidents(engine)
    assert answer.json() == {"opened": [incident.id], "resolved": [], "unchanged": 0, "ignored": 0}
    assert incident.title == "Videos would not start"
    # The description is monitoring's text for engineers: kept, never read by customers.
    assert incident.summary == ""
    assert incident.notes == "Playback failed for many members."
    assert incident.services == ["streaming"]
    assert incident.regions == ["us-east", "eu-west"]
    assert incident.severity == "critical"
    assert incident.source_ref == "1a30ba71cca2921f"
    assert incident.start_at == STARTED
    assert incident.end_at is None
    assert incident.declared_at == NOW
    assert audit_actions(engine) == Counter(
        {("alertmanager", "incident.declared"): 1, ("alertmanager", "alert.linked"): 1}
    )


def test_the_same_notification_again_opens_nothing(engine, hook):
    first = hook.post(PATH, json=notification(alert())).json()
    again = hook.post(PATH, json=notification(alert()))
    assert again.status_code == 200
    assert again.json() == {"opened": [], "resolved": [], "unchanged": 1, "ignored": 0}
    assert [i.id for i in incidents(engine)] == first["opened"]


def test_ten_concurrent_identical_deliveries_open_one_incident(engine, hook):
    body = notification(alert(), alert(fingerprint="b2", makegood_service="shipping"))
    base = str(hook.base_url)

    def deliver(_: int) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=60) as own:
            return own.post(PATH, json=body, headers={"Authorization": f"Bearer {TOKEN}"})

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(deliver, range(10)))
    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
    opened = [i for a in answers for i in a.json()["opened"]]
    assert sum(a.json()["unchanged"] for a in answers) == 2 * 10 - 2
    found = incidents(engine)
    assert sorted(opened) == [i.id for i in found]
    assert sorted(i.source_ref for i in found) == ["1a30ba71cca2921f", "b2"]
    with UnitOfWork(engine) as uow:
        assert uow.session.scalar(select(func.count()).select_from(AlertLink)) == 2
    assert audit_actions(engine)[("alertmanager", "incident.declared")] == 2


def test_a_resolved_alert_sets_the_end_once(engine, hook):
    [opened] = hook.post(PATH, json=notification(alert())).json()["opened"]
    done = hook.post(PATH, json=notification(alert("resolved")))
    assert done.status_code == 200
    assert done.json() == {"opened": [], "resolved": [opened], "unchanged": 0, "ignored": 0}
    [incident] = incidents(engine)
    assert incident.end_at == ENDED
    assert incident.resolved_at == NOW
    again = hook.post(PATH, json=notification(alert("resolved")))
    assert again.json() == {"opened": [], "resolved": [], "unchanged": 1, "ignored": 0}
    # A late repeat of the firing notification does not reopen it either.
    late = hook.post(PATH, json=notification(alert()))
    assert late.json()["opened"] == []
    assert audit_actions(engine)[("alertmanager", "incident.resolved")] == 1
    assert len(incidents(engine)) == 1


def test_concurrent_resolved_deliveries_end_the_incident_once(engine, hook):
    hook.post(PATH, json=notification(alert()))
    base = str(hook.base_url)

    def deliver(_: int) -> list[int]:
        with httpx.Client(base_url=base, timeout=60) as own:
            answer = own.post(
                PATH,
                json=notification(alert("resolved")),
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert answer.status_code == 200, answer.text
            return list(answer.json()["resolved"])

    with ThreadPoolExecutor(10) as pool:
        resolved = [i for ids in pool.map(deliver, range(10)) for i in ids]
    assert resolved == [incidents(engine)[0].id]
    assert audit_actions(engine)[("alertmanager", "incident.resolved")] == 1


def test_the_same_alert_firing_again_after_it_ended_opens_a_new_incident(engine, hook):
    hook.post(PATH, json=notification(alert()))
    hook.post(PATH, json=notification(alert("resolved")))
    recurrence = alert()
    recurrence["startsAt"] = "2026-03-11T20:00:00Z"
    answer = hook.post(PATH, json=notification(recurrence)).json()
    first, second = incidents(engine)
    assert answer["opened"] == [second.id]
    assert second.start_at == datetime(2026, 3, 11, 20, 0, tzinfo=UTC)
    assert first.end_at is not None and second.end_at is None
    assert hook.post(PATH, json=notification(recurrence)).json()["opened"] == []
    ended = recurrence | {"status": "resolved", "endsAt": "2026-03-11T21:00:00Z"}
    assert hook.post(PATH, json=notification(ended)).json()["resolved"] == [second.id]


def test_a_resolved_alert_never_seen_firing_opens_an_ended_incident(engine, hook):
    answer = hook.post(PATH, json=notification(alert("resolved"))).json()
    [incident] = incidents(engine)
    assert answer["opened"] == answer["resolved"] == [incident.id]
    assert (incident.start_at, incident.end_at) == (STARTED, ENDED)


def test_several_services_one_incident_and_severity_mapped(engine, hook):
    body = notification(
        alert(makegood_service="Streaming, shipping,streaming", severity="warning"),
        alert(fingerprint="no-severity", severity=""),
    )
    hook.post(PATH, json=body)
    first, second = incidents(engine)
    assert first.services == ["streaming", "shipping"]
    assert (first.severity, second.severity) == ("minor", "major")


def test_alerts_without_the_service_label_are_ignored_and_counted(engine, hook):
    body = notification(
        alert(fingerprint="a", makegood_service=""),
        alert(fingerprint="b", makegood_service=" "),
        alert(fingerprint="c"),
    )
    answer = hook.post(PATH, json=body)
    assert answer.json() == {
        "opened": [incidents(engine)[0].id],
        "resolved": [],
        "unchanged": 0,
        "ignored": 2,
    }
    assert len(incidents(engine)) == 1


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong-token",
        f"Basic {TOKEN}",
        "Bearer",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
    ],
)
def test_a_missing_or_wrong_token_is_refused(engine, database_url, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    with served(app_for(database_url)) as base:
        answer = httpx.post(base + PATH, json=notification(alert()), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["error"]["code"] == "unauthorized"
    assert incidents(engine) == []


def test_with_no_token_configured_the_hook_is_off(engine, database_url):
    with served(app_for(database_url, token="")) as base:
        answer = httpx.post(
            base + PATH, json=notification(alert()), headers={"Authorization": "Bearer x"}
        )
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "hook_disabled"
    assert "MAKEGOOD_WEB__ALERTMANAGER_TOKEN" in error["message"]
    assert incidents(engine) == []


def _without(key: str) -> dict:
    broken = alert()
    del broken[key]
    return notification(broken)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_without("startsAt"), "alerts.0.startsAt"),
        (_without("fingerprint"), "alerts.0.fingerprint"),
        (notification(alert() | {"startsAt": "2026-03-04T19:30:00"}), "alerts.0.startsAt"),
        (notification(alert() | {"status": "pending"}), "alerts.0.status"),
        (notification(alert() | {"labels": ["makegood_service"]}), "alerts.0.labels"),
        (
            notification(alert(), alert(makegood_service="Video On Demand")),
            "alerts.1.labels.makegood_service",
        ),
        (notification(alert(makegood_region="eu/west")), "alerts.0.labels.makegood_region"),
        (notification(alert("resolved") | {"endsAt": "0001-01-01T00:00:00Z"}), "alerts.0.endsAt"),
        ({"status": "firing"}, "alerts"),
        (notification(alert(fingerprint="a\x00b")), "alerts.0.fingerprint"),
        (
            notification(alert() | {"annotations": {"summary": "Playback\x00"}}),
            "alerts.0.annotations.summary",
        ),
        (notification(alert(), alert(fingerprint="f" * 201)), "alerts.1.fingerprint"),
        (notification(alert() | {"startsAt": "9999-12-31T23:00:00-05:00"}), "alerts.0.startsAt"),
        # Go's zero time, which Alertmanager writes for "no time": not an outage's start.
        (notification(alert() | {"startsAt": "0001-01-01T00:00:00Z"}), "alerts.0.startsAt"),
        # One notification may not open thousands of incidents.
        (
            notification(*(alert(fingerprint=f"{n:016x}") for n in range(MAX_ALERTS + 1))),
            "alerts",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_malformed_notification_names_the_field_and_changes_nothing(engine, hook, body, field):
    answer = hook.post(PATH, json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == field
    assert error["message"].startswith(field)
    assert incidents(engine) == []


def test_the_hook_is_in_the_openapi_document(hook):
    document = hook.get("/api/openapi.json").json()
    post = document["paths"][PATH]["post"]
    assert set(post["responses"]) >= {"200", "401", "422", "503"}
    schema = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert schema.endswith("/AlertHookResult")
