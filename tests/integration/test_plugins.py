"""A package that is not makegood adds a channel and a billing sink by entry points:
installed from tests/plugins/pigeon into a directory of its own, it carries real
apologies to a real HTTP server and takes the billing export, with no edit to makegood."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from makegood.credits.models import LedgerEntry
from makegood.customers.models import Customer
from makegood.db.uow import UnitOfWork
from makegood.messaging.models import Message, Suppression
from tests.support.delivery import executed
from tests.support.world import SECRET

PLUGIN = Path(__file__).resolve().parent.parent / "plugins" / "pigeon"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plug-in built and installed (as a wheel, by uv) into a directory of its own."""
    target = tmp_path_factory.mktemp("site")
    uv = [sys.executable, "-m", "uv"] if _has_uv(sys.executable) else ["uv"]
    base = [*uv, "pip", "install", "--quiet", "--python", sys.executable, "--target", str(target)]
    for extra in (["--offline"], []):  # the cache has hatchling once makegood was built
        done = subprocess.run([*base, *extra, str(PLUGIN)], capture_output=True, text=True)
        if done.returncode == 0:
            break
    assert done.returncode == 0, done.stderr
    assert (target / "makegood_pigeon").is_dir()
    return target


def _has_uv(python: str) -> bool:
    probe = subprocess.run([python, "-m", "uv", "--version"], capture_output=True)
    return probe.returncode == 0


class Loft(BaseHTTPRequestHandler):
    """Takes each letter as JSON; refuses one address for good (422)."""

    received: list[dict[str, str]]
    refuse: str

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["to"] == self.refuse:
            self.send_response(422, "no such pigeon loft")
            self.end_headers()
            return
        self.received.append(body)
        self.send_response(202)
        self.send_header("X-Pigeon-Id", f"pigeon-{body['key']}")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def loft():
    class Handler(Loft):
        received: list[dict[str, str]] = []  # noqa: RUF012
        refuse = ""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Handler, f"http://127.0.0.1:{server.server_port}/letters"
    server.shutdown()


def makegood(args: list[str], site: Path, env: dict[str, str], cwd: Path):
    environment = {**os.environ, **env, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "makegood", *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_plugin_channel_and_billing_sink_run_end_to_end(
    installed, loft, engine, database_url, world, tmp_path
):
    handler, url = loft
    executed(engine, world.shipping)
    with UnitOfWork(engine) as uow:
        queued = uow.session.scalar(select(func.count()).select_from(Message))
        entries = uow.session.scalar(select(func.count()).select_from(LedgerEntry))
        refused = uow.session.scalars(
            select(Customer.email)
            .join(Message, Message.customer_id == Customer.customer_id)
            .order_by(Message.id)
        ).first()
    assert queued and entries and refused
    handler.refuse = refused.strip()
    env = {
        "MAKEGOOD_DATABASE_URL": database_url,
        "MAKEGOOD_SECRET_KEY": SECRET,
        "MAKEGOOD_CHANNELS__EMAIL": "pigeon",
        "PIGEON_URL": url,
    }
    sent = makegood(["--json", "send"], installed, env, tmp_path)
    assert sent.returncode == 0, sent.stderr
    counts = json.loads(sent.stdout)
    assert counts["sent"] == len(handler.received) == queued - 1
    assert counts["failed"] == 1
    assert Counter(item["key"] for item in handler.received).most_common(1)[0][1] == 1
    with UnitOfWork(engine) as uow:
        ids = uow.session.scalars(
            select(Message.provider_message_id).where(Message.status == "sent")
        ).all()
        suppressed = uow.session.scalars(select(Suppression)).one()
    assert len(ids) == counts["sent"] and all(i.startswith("pigeon-") for i in ids)
    # Refused for good by the plug-in's provider: suppressed on that channel.
    assert (suppressed.channel, suppressed.address) == ("email", refused.strip().lower())
    assert suppressed.provider_code == 422

    # Sending again finds nothing left: each apology went once.
    again = makegood(["--json", "send"], installed, env, tmp_path)
    assert json.loads(again.stdout)["sent"] == 0

    book = tmp_path / "book.json"
    exported = makegood(
        ["--json", "billing", "export", "--format", "ledgerbook", "--out", str(book)],
        installed,
        env,
        tmp_path,
    )
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["exported"] == entries
    rows = json.loads(book.read_text())
    assert len(rows) == entries
    assert set(rows[0]) == {
        "credit_id", "customer_id", "amount", "currency", "statement_date", "incident_id",
        "description",
    }  # fmt: skip
    # The same sink takes pushes too, one entry at a time, each once; entries the
    # export already wrote are left out when asked, else pushed with a warning.
    ledger = tmp_path / "pushed.json"
    pushing = {**env, "LEDGERBOOK_PATH": str(ledger)}
    push = ["--json", "billing", "push", "--sink", "ledgerbook"]
    skipped = makegood([*push, "--skip-exported"], installed, pushing, tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout) == {"pushed": 0, "failed": 0, "pending": 0}
    pushed = makegood(push, installed, pushing, tmp_path)
    assert json.loads(pushed.stdout) == {"pushed": entries, "failed": 0, "pending": 0}
    assert f"warning: {entries} entries pushed to ledgerbook for the first time" in pushed.stderr
    again = makegood(push, installed, pushing, tmp_path)
    assert json.loads(again.stdout)["pushed"] == 0 and "warning" not in again.stderr
    taken = Counter(row["credit_id"] for row in json.loads(ledger.read_text()))
    assert len(taken) == entries and set(taken.values()) == {1}
    # The same plug-in is unknown to a makegood that does not have it installed.
    missing = makegood(
        ["billing", "export", "--format", "ledgerbook", "--out", str(book)], tmp_path, env, tmp_path
    )
    assert missing.returncode == 1
    assert "no makegood.billing_sinks adapter is called 'ledgerbook'" in missing.stderr
