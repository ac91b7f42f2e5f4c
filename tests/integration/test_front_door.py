"""The web application's front door and its API docs, over real HTTP: ``/`` leads to
the console's sign-in (or the console, once signed in) and is no part of the API's
schema; ``/api/docs`` loads Swagger UI from this server alone, under the console's
Content-Security-Policy, so it works offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest

from makegood.console.users import add_user
from makegood.db import migrate
from makegood.db.engine import make_engine
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from tests.support import truth as gt
from tests.support.delivery import settings
from tests.support.server import MovableClock, served

PASSWORD = "a-long-console-password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SCRIPT_TYPES = ("text/javascript", "application/javascript")
# Any scheme-qualified or protocol-relative address in the page: a host of its own.
EXTERNAL = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The application served on an empty SQLite database with one console user.
    The pages under test read nothing else, so one database is enough."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('front') / 'makegood.db'}"
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with UnitOfWork(engine) as uow:
        add_user(uow.session, "dana", "viewer", PASSWORD, gt.NOW, "setup", "Dana")
        uow.commit()
    # Plain HTTP here, so the session cookie must not be https-only.
    config = settings(database_url, 2525).model_copy(update={"base_url": "http://t.example"})
    with served(create_app(config, MovableClock(gt.NOW))) as url:
        yield url
    engine.dispose()


class Assets(HTMLParser):
    """The ``src`` of every script and the ``href`` of every link element."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            if found.get("src"):
                self.scripts.append(str(found["src"]))
            else:
                self.inline_scripts += 1
        elif tag == "link" and found.get("href"):
            self.links.append(str(found["href"]))


def test_the_root_redirects_to_the_console_sign_in(base):
    with httpx.Client(base_url=base) as client:
        answer = client.get("/")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/login"
        assert client.head("/").status_code == 303
        landed = client.get("/", follow_redirects=True)
    assert landed.status_code == 200
    assert landed.url.path == "/console/login"
    assert 'name="password"' in landed.text


def test_the_root_leads_a_signed_in_user_into_the_console(base):
    with httpx.Client(base_url=base) as client:
        form = client.get("/console/login")
        token = CSRF.search(form.text)
        assert token is not None
        signed = client.post(
            "/console/login",
            data={"csrf": token.group(1), "username": "dana", "password": PASSWORD},
        )
        assert signed.status_code == 303, signed.text
        answer = client.get("/")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console"
        landed = client.get("/", follow_redirects=True)
    assert landed.status_code == 200
    assert landed.url.path == "/console/incidents"


def test_the_root_is_not_in_the_openapi_schema(base):
    schema = httpx.get(f"{base}/api/openapi.json").json()
    assert "/" not in schema["paths"]
    assert "/api/docs" not in schema["paths"]
    assert all(
        path.startswith(("/api/", "/healthz", "/readyz", "/metrics")) for path in schema["paths"]
    )


def test_the_api_docs_load_every_asset_from_this_server(base):
    page = httpx.get(f"{base}/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    found = Assets()
    found.feed(page.text)
    assert found.scripts and found.links, page.text
    # The scripts are files, so the CSP needs no 'unsafe-inline'.
    assert found.inline_scripts == 0
    assert EXTERNAL.search(page.text) is None, EXTERNAL.search(page.text)
    kinds = [(src, SCRIPT_TYPES) for src in found.scripts]
    kinds += [(href, ("text/css",)) for href in found.links]
    for address, types in kinds:
        parts = urlsplit(address)
        assert not parts.scheme and not parts.netloc and address.startswith("/"), address
        asset = httpx.get(base + address)
        assert asset.status_code == 200, address
        media = asset.headers["content-type"].split(";")[0].strip()
        assert media in types, (address, media)
        assert len(asset.content) > 100, address
    assert any("swagger-ui-bundle" in src for src in found.scripts)
    # The page points Swagger UI at the schema, and the schema answers.
    assert 'data-openapi-url="/api/openapi.json"' in page.text
    assert httpx.get(f"{base}/api/openapi.json").status_code == 200


def test_the_api_docs_page_carries_a_policy_that_allows_only_this_server(base):
    page = httpx.get(f"{base}/api/docs")
    policy = page.headers["content-security-policy"]
    directives = dict(
        (d.split()[0], d.split()[1:]) for d in (p.strip() for p in policy.split(";")) if d
    )
    # Scripts and connections fall back to default-src: this origin only, nothing inline.
    assert directives["default-src"] == ["'self'"]
    assert "script-src" not in directives and "connect-src" not in directives
    assert directives["style-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
