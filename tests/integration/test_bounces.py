"""Bounces and complaints after the fact: every email leaves with a VERP return path
naming it; `makegood bounces` reads what came back (Maildir, mbox, the built-in
mailbox) and the mail events hook takes providers' JSON. A hard bounce marks the
message bounced and suppresses the address, a complaint opts the customer out, a soft
bounce is counted, a vacation reply is left alone — once, however often read."""

from __future__ import annotations

import json
import mailbox
import os
import re
import smtplib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from makegood.adapters import mailbox as builtin_mailbox
from makegood.audit.models import AuditEntry
from makegood.campaigns.models import Campaign
from makegood.channel_config import BounceSettings
from makegood.core.tokens import bounce_message, bounce_token
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.messaging.models import MailFeedback, Message, Suppression
from makegood.reports.schemas import ReportOut
from makegood.reports.service import incident_report
from tests.support.console import as_viewer
from tests.support.delivery import SENT_AT, executed, send, settings
from tests.support.server import MovableClock, served
from tests.support.world import SECRET

SAMPLES = Path(__file__).parent.parent / "data" / "feedback"
DOMAIN = "bounces.example.com"
HOOK_TOKEN = "mail-events-token-0123456789"


def config_for(database_url: str, port: int):
    return settings(database_url, port).model_copy(
        update={"bounces": BounceSettings(domain=DOMAIN, hook_token=HOOK_TOKEN)}
    )


def sample(name: str, token: str, address: str, was_token: str, was_address: str) -> bytes:
    text = (SAMPLES / name).read_text()
    return text.replace(was_token, token).replace(was_address, address).encode()


def cli(database_url: str, cwd: Path, *args: str) -> dict:
    env = {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": database_url,
        "MAKEGOOD_SECRET_KEY": SECRET,
        "MAKEGOOD_BOUNCES__DOMAIN": DOMAIN,
    }
    run = subprocess.run(
        [sys.executable, "-m", "makegood", "--json", "bounces", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture
def mailed(engine, database_url, world, sink):
    handler, port = sink
    executed(engine, world.shipping)
    executed(engine, world.streaming)
    send(engine, config_for(database_url, port))
    with UnitOfWork(engine) as uow:
        messages = list(uow.session.scalars(select(Message).order_by(Message.id)))
    return handler, messages


def test_each_email_returns_to_its_own_verp_address(mailed):
    handler, messages = mailed
    by_id = {f"<makegood.{m.campaign_id}.{m.id}@example.com>": m for m in messages}
    received = handler.received()
    assert len(received) == len(messages)
    for item in received:
        local, _, domain = item["mail_from"].partition("@")
        prefix, _, token = local.partition("+")
        assert (prefix, domain) == ("bounce", DOMAIN)
        assert token == token.lower()
        assert bounce_message(SECRET, token) == by_id[item["message_id"]].id
    assert bounce_message(SECRET, bounce_token(SECRET, 7)[:-1] + "x") is None  # forged


def test_read_reports_act_once_and_leave_vacation_replies_alone(
    engine, database_url, world, mailed, tmp_path
):
    _, messages = mailed
    gone, angry, away = messages[0], messages[1], messages[2]
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(
        sample(
            "postfix_hard_bounce.eml",
            bounce_token(SECRET, gone.id),
            str(gone.recipient),
            "Ab3dE_f9",
            "No.Such.User@Example.org",
        )
    )
    maildir.add(
        sample(
            "vacation_auto_replied.eml",
            bounce_token(SECRET, away.id),
            str(away.recipient),
            "Vac4t_1",
            "pat.lee@example.org",
        )
    )
    mbox = mailbox.mbox(tmp_path / "complaints.mbox", create=True)
    mbox.add(
        sample(
            "arf_abuse.eml",
            bounce_token(SECRET, angry.id),
            str(angry.recipient),
            "Arf_ab-1",
            "angry.customer@example.net",
        )
    )
    mbox.flush()
    first = cli(database_url, tmp_path, "--maildir", str(tmp_path / "Maildir"))
    assert (first["read"], first["hard_bounce"], first["not_feedback"]) == (2, 1, 1)
    complaint = cli(database_url, tmp_path, "--mbox", str(tmp_path / "complaints.mbox"))
    assert (complaint["complaint"], complaint["unmatched"]) == (1, 0)
    again = cli(database_url, tmp_path, "--maildir", str(tmp_path / "Maildir"))
    assert (again["hard_bounce"], again["already_read"]) == (0, 1)

    with UnitOfWork(engine) as uow:
        s = uow.session
        statuses = {m.id: m.status for m in s.scalars(select(Message))}
        stopped = {x.address: x.reason for x in s.scalars(select(Suppression))}
        kept = list(s.scalars(select(MailFeedback)))
        audited = list(
            s.scalars(select(AuditEntry).where(AuditEntry.action == "customer.complained"))
        )
        report = ReportOut.of(incident_report(s, _incident(s, gone), SENT_AT))
    assert statuses[gone.id] == "bounced" and statuses[away.id] == "sent"
    assert stopped[str(gone.recipient).lower()].startswith("bounced (5.1.1")
    assert stopped[str(angry.recipient).lower()].startswith("complained")
    assert str(away.recipient).lower() not in stopped
    assert sorted(f.kind for f in kept) == ["complaint", "hard_bounce"]
    assert [a.object_id for a in audited] == [angry.customer_id]
    assert report.delivery.bounced == 1
    assert report.delivery.complained == (1 if angry.campaign_id == gone.campaign_id else 0)
    assert report.messages["bounced"] == 1
    plain = config_for(database_url, 25).model_copy(update={"base_url": "http://127.0.0.1"})
    _console_counts(engine, plain, gone, angry)  # http: the session cookie is not Secure


def _console_counts(engine, config, gone: Message, angry: Message) -> None:
    """The console's incident page says how many apologies bounced and drew a
    complaint, beside the other outcomes."""
    with UnitOfWork(engine) as uow:
        incidents = {m.id: _incident(uow.session, m) for m in (gone, angry)}
    with as_viewer(engine, config, SENT_AT) as web:
        pages = {i: web.get(f"/console/incidents/{i}").text for i in set(incidents.values())}
    for message, label in ((gone, "Bounced"), (angry, "Complained")):
        page = pages[incidents[message.id]]
        shown = re.search(rf'{label}</div><div class="fig bad">(\d+)</div>', page)
        assert shown is not None and shown.group(1) == "1", label


def test_bounces_dir_reads_what_the_built_in_mailbox_kept_once(
    engine, database_url, mailed, tmp_path
):
    """The return path's domain points at the built-in mailbox (`makegood mailbox`):
    reports arrive over SMTP and are kept as numbered .eml files beside index.jsonl."""
    _, messages = mailed
    gone, angry, away = messages[0], messages[1], messages[2]
    reports = [
        (gone, "postfix_hard_bounce.eml", "Ab3dE_f9", "No.Such.User@Example.org"),
        (angry, "arf_abuse.eml", "Arf_ab-1", "angry.customer@example.net"),
        (away, "vacation_auto_replied.eml", "Vac4t_1", "pat.lee@example.org"),
    ]
    kept = tmp_path / "bounce-mailbox"
    controller = builtin_mailbox.start(kept)
    try:
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=30) as smtp:
            for message, name, was_token, was_address in reports:
                token = bounce_token(SECRET, message.id)
                raw = sample(name, token, str(message.recipient), was_token, was_address)
                raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # SMTP's lines
                smtp.sendmail("MAILER-DAEMON@example.org", [f"bounce+{token}@{DOMAIN}"], raw)
    finally:
        controller.stop()
    assert sorted(p.name for p in kept.iterdir()) == [
        "0000001.eml",
        "0000002.eml",
        "0000003.eml",
        "index.jsonl",
    ]

    first = cli(database_url, tmp_path, "--dir", str(kept))
    assert first == {
        "read": 3,
        "hard_bounce": 1,
        "soft_bounce": 0,
        "complaint": 1,
        "already_read": 0,
        "unmatched": 0,
        "not_feedback": 1,
    }
    before = _state(engine)
    assert before["statuses"][gone.id] == "bounced" and before["statuses"][away.id] == "sent"
    assert set(before["suppressed"]) == {
        str(gone.recipient).lower(),
        str(angry.recipient).lower(),
    }
    assert before["complained"] == [angry.customer_id]

    again = cli(database_url, tmp_path, "--dir", str(kept))
    assert (again["read"], again["already_read"], again["not_feedback"]) == (3, 2, 1)
    assert again["hard_bounce"] == again["complaint"] == again["unmatched"] == 0
    assert _state(engine) == before


def _state(engine) -> dict:
    """What reading reports may change: statuses, suppressions, outcomes, the audit log."""
    with UnitOfWork(engine) as uow:
        s = uow.session
        return {
            "statuses": {m.id: m.status for m in s.scalars(select(Message))},
            "suppressed": {x.address: x.reason for x in s.scalars(select(Suppression))},
            "outcomes": sorted((f.kind, f.message_id) for f in s.scalars(select(MailFeedback))),
            "complained": [
                a.object_id
                for a in s.scalars(
                    select(AuditEntry).where(AuditEntry.action == "customer.complained")
                )
            ],
        }


def _incident(session, message) -> int:
    campaign = session.get(Campaign, message.campaign_id)
    return campaign.incident_id


def test_the_mail_events_hook_takes_provider_json_once(engine, database_url, sink, mailed):
    _, port = sink
    _, messages = mailed
    soft, hard = messages[3], messages[4]
    events = [
        {"event": "deferred", "email": soft.recipient, "reason": "451 4.3.2 try later"},
        {"event": "bounce", "type": "bounce", "email": hard.recipient, "status": "5.1.1"},
        {"event": "open", "email": hard.recipient},
    ]
    config = config_for(database_url, port)
    with served(create_app(config, MovableClock(SENT_AT))) as base:
        url = base + "/api/hooks/mail-events"
        auth = {"Authorization": f"Bearer {HOOK_TOKEN}"}
        first = httpx.post(url, json=events, headers=auth)
        again = httpx.post(url, json=events, headers=auth)
        wrong = httpx.post(url, json=events, headers={"Authorization": "Bearer nope"})
        bad = httpx.post(url, json=[{"event": "bounce"}], headers=auth)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "hard_bounce": 1,
        "soft_bounce": 1,
        "complaint": 0,
        "already_read": 0,
        "unmatched": 0,
        "subscription_confirmations": 0,
    }
    assert again.json()["already_read"] == 2 and again.json()["hard_bounce"] == 0
    assert wrong.status_code == 401
    assert bad.status_code == 422 and "event 0" in bad.json()["error"]["message"]
    with UnitOfWork(engine) as uow:
        assert uow.session.get(Message, hard.id).status == "bounced"
        assert uow.session.get(Message, soft.id).status == "sent"
        assert uow.session.get(Suppression, ("email", str(hard.recipient).lower())) is not None
        assert uow.session.get(Suppression, ("email", str(soft.recipient).lower())) is None
