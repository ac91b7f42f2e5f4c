"""What probing the served application found, each now held: API JSON is never cached,
HSTS once the public address is https, a refused sign-in says when to come back, a
made-up X-Forwarded-For earns no fresh rate limit, and signing out ends the session on
the server."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from makegood.access.service import create_key
from makegood.console.auth import LOGIN_TRIES_PER_MINUTE
from makegood.console.users import add_user
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from tests.support import truth as gt
from tests.support.delivery import settings
from tests.support.server import MovableClock, served

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "a-long-console-password"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """An empty migrated SQLite database and a viewer's API key."""
    url = f"sqlite:///{tmp_path_factory.mktemp('headers') / 'makegood.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with UnitOfWork(engine) as uow:
        _, key = create_key(uow.session, "probe", "viewer", gt.NOW, "setup")
        add_user(uow.session, "olga", "operator", PASSWORD, gt.NOW, "setup", "Olga")
        uow.commit()
    engine.dispose()
    return url, key


def fresh_minute() -> None:
    """Start where a whole minute-window of the rate limits is left (they count per
    minute of the monotonic clock), so a burst is not split by a window's end."""
    left = 60 - time.monotonic() % 60
    if left < 20:
        time.sleep(left + 0.1)


def wrong_password_form(client: httpx.Client) -> dict[str, str]:
    """A sign-in form with a valid CSRF token and a wrong password."""
    token = CSRF.search(client.get("/console/login").text)
    assert token is not None
    return {"csrf": token.group(1), "username": "nobody", "password": "wrong"}


def serve(url: str, base_url: str):
    config = settings(url, 2525).model_copy(update={"base_url": base_url})
    return served(create_app(config, MovableClock(gt.NOW)))


def test_api_json_is_never_cached_and_plain_http_gets_no_hsts(database):
    url, key = database
    with serve(url, "http://t.example") as base, httpx.Client(base_url=base) as client:
        listed = client.get("/api/customers", headers={"Authorization": f"Bearer {key}"})
        refused = client.get("/api/customers")
        page = client.get("/console/login")
    assert listed.status_code == 200 and refused.status_code == 401
    assert listed.headers["cache-control"] == "no-store"
    assert refused.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in listed.headers
    assert "strict-transport-security" not in page.headers


def test_an_https_address_turns_hsts_on_for_every_answer(database):
    url, key = database
    with serve(url, "https://video.example") as base, httpx.Client(base_url=base) as client:
        answers = [
            client.get("/api/customers", headers={"Authorization": f"Bearer {key}"}),
            client.get("/console/login"),
            client.get("/claim/unknown-token"),
        ]
    for answer in answers:
        assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_too_many_sign_ins_answer_429_with_retry_after(database):
    url, _ = database
    with serve(url, "http://t.example") as base, httpx.Client(base_url=base) as client:
        form = wrong_password_form(client)
        fresh_minute()
        codes = [
            client.post("/console/login", data=form) for _ in range(LOGIN_TRIES_PER_MINUTE + 1)
        ]
    assert [c.status_code for c in codes[:-1]] == [401] * LOGIN_TRIES_PER_MINUTE
    assert codes[-1].status_code == 429
    assert 1 <= int(codes[-1].headers["retry-after"]) <= 60


def test_made_up_forwarded_addresses_do_not_reset_the_sign_in_limit(database):
    url, _ = database
    with serve(url, "http://t.example") as base, httpx.Client(base_url=base) as client:
        form = wrong_password_form(client)
        fresh_minute()
        codes = [
            client.post(
                "/console/login", data=form, headers={"X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n in range(LOGIN_TRIES_PER_MINUTE + 2)
        ]
    assert codes[LOGIN_TRIES_PER_MINUTE:] == [429, 429]


def test_behind_a_trusted_proxy_the_address_it_saw_counts_not_the_clients_claim(database):
    from makegood.config import WebSettings

    url, _ = database
    config = settings(url, 2525).model_copy(
        update={
            "base_url": "http://t.example",
            "web": WebSettings(trust_forwarded_for=True, claim_rate_per_minute=0),
        }
    )
    with (
        served(create_app(config, MovableClock(gt.NOW))) as base,
        httpx.Client(base_url=base) as client,
    ):
        form = wrong_password_form(client)
        fresh_minute()
        # The proxy appends the address it saw; what comes before is the client's own.
        codes = [
            client.post(
                "/console/login",
                data=form,
                headers={"X-Forwarded-For": f"198.51.100.{n}, 192.0.2.7"},
            ).status_code
            for n in range(LOGIN_TRIES_PER_MINUTE + 1)
        ]
        other = client.post(
            "/console/login", data=form, headers={"X-Forwarded-For": "192.0.2.8"}
        ).status_code
    assert codes[-1] == 429 and other == 401


def test_signing_out_ends_the_session_for_a_saved_copy_of_its_cookie(database):
    url, _ = database
    with serve(url, "http://t.example") as base, httpx.Client(base_url=base) as client:
        token = CSRF.search(client.get("/console/login").text)
        assert token is not None
        signed = client.post(
            "/console/login",
            data={"csrf": token.group(1), "username": "olga", "password": PASSWORD},
        )
        assert signed.status_code == 303
        page = client.get("/console/incidents")
        assert page.status_code == 200
        csrf = CSRF.search(page.text)
        assert csrf is not None
        saved = dict(client.cookies)
        assert client.post("/console/logout", data={"csrf": csrf.group(1)}).status_code == 303
        with httpx.Client(base_url=base, cookies=saved) as thief:
            again = thief.get("/console/incidents")
            assert again.status_code == 303
            assert again.headers["location"].startswith("/console/login")
            declared = thief.post(
                "/console/incidents", data={"csrf": csrf.group(1), "title": "forged"}
            )
            assert declared.status_code in (303, 403)
            assert declared.headers.get("location", "/console/login").startswith("/console/login")
        # Signing in again works, with a new session.
        token = CSRF.search(client.get("/console/login").text)
        assert token is not None
        back = client.post(
            "/console/login",
            data={"csrf": token.group(1), "username": "olga", "password": PASSWORD},
        )
        assert back.status_code == 303
        assert client.get("/console/incidents").status_code == 200


def test_the_key_is_checked_before_the_body_is_read(database):
    url, key = database
    with serve(url, "http://t.example") as base, httpx.Client(base_url=base) as client:
        broken = {"content": b"{not json", "headers": {"Content-Type": "application/json"}}
        anonymous = client.post("/api/campaigns", **broken)
        forged = client.post(
            "/api/campaigns",
            content=broken["content"],
            headers={**broken["headers"], "Authorization": "Bearer mg_made_up"},
        )
        keyed = client.post(
            "/api/campaigns",
            content=broken["content"],
            headers={**broken["headers"], "Authorization": f"Bearer {key}"},
        )
    assert anonymous.status_code == 401 and forged.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert anonymous.headers["www-authenticate"] == "Bearer"
    # With a real key, the body is judged.
    assert keyed.status_code == 422
    assert keyed.json()["error"]["field"] == "body"
    assert keyed.json()["error"]["message"].startswith("body: not valid JSON at character 1")
