"""Apologies by text message, end to end: customers who asked for SMS get one text per
offer from a real HTTP server speaking Twilio's Messages API (tests/support/sms_server),
exactly once through the outbox, leases and attempts — also when the sender is killed
between the provider's answer and makegood's commit."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from makegood.campaigns.planning import plan
from makegood.campaigns.preview import check_templates
from makegood.channel_config import SmsSettings
from makegood.config import CompanySettings
from makegood.core.errors import InvalidInputError
from makegood.credits.models import Offer
from makegood.customers.models import Customer
from makegood.customers.service import import_customers
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.app import create_app
from makegood.messaging.models import Message, Suppression
from makegood.messaging.rendering import Renderer
from makegood.messaging.sms_text import sms_length
from makegood.policy.schema import parse_policy
from tests.support.delivery import SENT_AT, executed, send, settings
from tests.support.server import MovableClock, served
from tests.support.sms_server import sms_server
from tests.support.truth import NOW
from tests.support.world import SECRET, SEED_POLICY

SID, TOKEN = "AC" + "1" * 32, "sms-auth-token"
FROM = "+14155550100"


def texting(directory: Path, engine, both: str = "late", only: str = "err") -> dict[str, str]:
    """Customers whose id starts with ``both`` take email and SMS, ``only`` SMS alone;
    each gets a phone number. Imported as the customers file's phone and channel."""
    source = directory / "data" / "customers.csv"
    with source.open() as fh:
        rows = list(csv.DictReader(fh))
    phones = {}
    for n, row in enumerate(rows):
        wanted = "email,sms" if row["customer_id"].startswith(both) else ""
        wanted = "sms" if row["customer_id"].startswith(only) else wanted
        row["phone"], row["channel"] = "", wanted
        if wanted:
            row["phone"] = phones[row["customer_id"]] = f"+1415555{1000 + n:04d}"
    again = directory / "customers_texting.csv"
    with again.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, [*rows[0].keys()])
        writer.writeheader()
        writer.writerows(rows)
    with UnitOfWork(engine) as uow:
        import_customers(uow.session, again, NOW)
        uow.commit()
    return phones


def sms_config(database_url: str, port: int, base: str, **delivery):
    return settings(database_url, port, **delivery).model_copy(
        update={
            "sms": SmsSettings(account_sid=SID, auth_token=TOKEN, from_number=FROM, api_base=base)
        }
    )


def channels_of(engine) -> Counter[str]:
    with UnitOfWork(engine) as uow:
        return Counter(uow.session.scalars(select(Message.channel)))


def test_customers_get_texts_and_emails_as_their_channel_column_says(
    engine, database_url, world, sink, tmp_path
):
    handler, port = sink
    phones = texting(tmp_path, engine)
    executed(engine, world.shipping)
    executed(engine, world.streaming)
    by_channel = channels_of(engine)
    assert by_channel["sms"] == sum(1 for _ in by_channel.elements()) - by_channel["email"] > 0
    with sms_server(SID, TOKEN, landlines=[next(iter(phones.values()))]) as server:
        server.fail_next(503, "drop", 429)  # passing trouble: tried again, sent once
        send(engine, sms_config(database_url, port, server.base))
        texts = server.accepted
    landline = next(iter(phones.values()))
    assert Counter(t["to"] for t in texts) == Counter(
        {phone: n for phone, n in _expected(engine).items() if phone != landline}
    )
    assert all(t["from"] == FROM for t in texts)
    mailed = {address.lower() for address in handler.seen}
    with UnitOfWork(engine) as uow:
        sms_only = [
            m for m in uow.session.scalars(select(Message)) if m.customer_id.startswith("err")
        ]
        refused = uow.session.get(Suppression, ("sms", landline))
        states = Counter(m.status for m in uow.session.scalars(select(Message)))
        emails = {c.customer_id: c.email.lower() for c in uow.session.scalars(select(Customer))}
    assert sms_only and all(m.channel == "sms" for m in sms_only)
    assert not {emails[m.customer_id] for m in sms_only} & mailed
    assert {emails[c] for c in emails if c.startswith("late")} <= mailed  # both channels
    # "Not a mobile number" puts the number on the suppression list.
    assert refused is not None and refused.provider_code == 21614
    assert states == Counter({"sent": sum(states.values()) - 1, "failed": 1})
    for text in texts:
        assert text["body"].startswith("Example Video")
        assert sms_length(text["body"]).segments <= 3
    _short_link_opens_the_claim_page(database_url, port, texts)


def _expected(engine) -> Counter[str]:
    with UnitOfWork(engine) as uow:
        rows = uow.session.execute(
            select(Message.customer_id).where(Message.channel == "sms")
        ).scalars()
        phone = {c.customer_id: c.phone for c in uow.session.scalars(select(Customer))}
        return Counter(phone[c] for c in rows)


def _short_link_opens_the_claim_page(database_url: str, port: int, texts) -> None:
    claim = next(t for t in texts if "/c/" in t["body"])
    link = next(w for w in claim["body"].split() if "/c/" in w)
    path = link.split("video.example.com", 1)[1]
    config = settings(database_url, port)
    with served(create_app(config, MovableClock(SENT_AT))) as base:
        short = httpx.get(base + path, follow_redirects=False)
        assert short.status_code == 308
        assert short.headers["location"] == path.replace("/c/", "/claim/")
        page = httpx.get(base + path, follow_redirects=True)
        assert page.status_code == 200 and "claim" in page.text.lower()


def sender(config, cwd) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "MAKEGOOD_DATABASE_URL": config.database_url,
        "MAKEGOOD_SMTP_URL": config.smtp_url.get_secret_value(),
        "MAKEGOOD_SECRET_KEY": SECRET,
        "MAKEGOOD_NOW": SENT_AT.isoformat(),
        "MAKEGOOD_BASE_URL": config.base_url,
        "MAKEGOOD_SMS__ACCOUNT_SID": SID,
        "MAKEGOOD_SMS__AUTH_TOKEN": TOKEN,
        "MAKEGOOD_SMS__FROM_NUMBER": FROM,
        "MAKEGOOD_SMS__API_BASE": config.sms.api_base,
        "MAKEGOOD_DELIVERY__CONNECTIONS": "1",
        "MAKEGOOD_DELIVERY__LEASE_SECONDS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "makegood", "--json", "send", "--until-empty"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_sender_killed_after_the_provider_took_a_text_sends_it_once(
    engine, database_url, world, sink, tmp_path
):
    _, port = sink
    texting(tmp_path, engine, both="unshipped", only="err")
    executed(engine, world.shipping)
    executed(engine, world.streaming)
    wanted = channels_of(engine)["sms"]
    assert wanted >= 4
    with sms_server(SID, TOKEN) as server:
        config = sms_config(database_url, port, server.base)
        victim = sender(config, tmp_path)

        def kill_after_the_third(message) -> None:
            if len(server.accepted) == 3:  # taken, and the answer never reaches makegood
                os.kill(victim.pid, signal.SIGKILL)
                time.sleep(0.2)

        server.after_store = kill_after_the_third
        victim.wait(timeout=60)
        assert victim.returncode == -signal.SIGKILL
        assert len(server.accepted) == 3
        server.after_store = None
        again = sender(config, tmp_path)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        texts = server.accepted
    assert len(texts) == wanted
    assert set(Counter((t["to"], t["body"]) for t in texts).values()) == {1}
    assert json.loads(out)["sent"] >= wanted - 3
    with UnitOfWork(engine) as uow:
        sms = list(uow.session.scalars(select(Message).where(Message.channel == "sms")))
    assert all(m.status == "sent" and m.provider_message_id for m in sms)
    assert {m.provider_message_id for m in sms} == {t["sid"] for t in texts}


@pytest.mark.parametrize("missing", ["MAKEGOOD_SMS__AUTH_TOKEN", "MAKEGOOD_SMS__FROM_NUMBER"])
def test_texts_queued_without_sms_settings_stop_the_sender_naming_them(
    engine, database_url, world, sink, tmp_path, missing
):
    _, port = sink
    texting(tmp_path, engine)
    executed(engine, world.shipping)
    with sms_server(SID, TOKEN) as server:
        config = sms_config(database_url, port, server.base)
        proc = sender(config, tmp_path)
        proc.kill()
        proc.wait()
        env_missing = {**os.environ, missing: ""}
        run = subprocess.run(
            [sys.executable, "-m", "makegood", "send"],
            cwd=tmp_path,
            env={
                **env_missing,
                "MAKEGOOD_DATABASE_URL": database_url,
                "MAKEGOOD_SMTP_URL": f"smtp://127.0.0.1:{port}",
                "MAKEGOOD_SECRET_KEY": SECRET,
                "MAKEGOOD_SMS__ACCOUNT_SID": SID,
                "MAKEGOOD_SMS__AUTH_TOKEN": "" if "TOKEN" in missing else TOKEN,
                "MAKEGOOD_SMS__FROM_NUMBER": "" if "FROM" in missing else FROM,
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert server.posts == 0
    assert run.returncode == 1
    named = "sms.auth_token" if "TOKEN" in missing else "sms.from_number"
    assert named in run.stderr and "Traceback" not in run.stderr


def _planned(engine, incident: int, policy_text: str):
    with UnitOfWork(engine) as uow:
        campaign = plan(uow.session, incident, parse_policy(policy_text), Decimal(0), NOW, "cx")
        check_templates(
            uow.session, campaign, Renderer(), CompanySettings(), "https://video.example.com", NOW
        )
        uow.commit()
        return dict(campaign.preview or {})


def test_the_plan_counts_texts_and_refuses_one_longer_than_the_policy_allows(
    engine, world, tmp_path
):
    texting(tmp_path, engine)  # late: email and SMS; err: SMS only
    shown = _planned(engine, world.streaming, SEED_POLICY)
    with UnitOfWork(engine) as uow:
        sms = uow.session.scalar(
            select(func.count())
            .select_from(Offer)
            .join(Customer, Customer.customer_id == Offer.customer_id)
            .where(
                Offer.incident_id == world.streaming,
                Offer.status == "planned",
                Customer.channel.like("%sms%"),
            )
        )
    assert shown["channels"]["sms"] == sms > 0
    lengths = shown["sms_lengths"]
    assert {row["kind"] for row in lengths} == {"claim_offer"}
    assert all(1 <= row["segments"] <= 3 and row["encoding"] == "GSM-7" for row in lengths)
    strict = SEED_POLICY + "\n[sms]\nmax_segments = 1\n"
    with pytest.raises(InvalidInputError) as refused:
        _planned(engine, world.streaming, strict)
    said = str(refused.value)
    assert "claim_offer text message for locale en-US is 2 SMS segments" in said
    assert "[sms] max_segments" in said
