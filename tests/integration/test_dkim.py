"""DKIM: every message that reaches a real aiosmtpd sink verifies with dkimpy against
the published key (the DNS lookup answered from the record keygen printed), for RSA
and ed25519, including a long Japanese Subject folded into encoded words."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import dkim
import pytest

from makegood.adapters.dkim_signing import new_key, sample_verifies
from makegood.adapters.smtp import SmtpChannel
from makegood.channel_config import DkimSettings
from makegood.messaging.ports import Envelope
from makegood.messaging.rendering import Letter
from tests.support.delivery import executed, send, settings
from tests.unit.test_letters import FACTS

DOMAIN, SELECTOR = "video.example.com", "mg2026"


def _record_lookup(record: str):
    name = f"{SELECTOR}._domainkey.{DOMAIN}".encode()

    def published(asked: bytes, timeout: int = 5) -> bytes | None:
        return record.encode() if asked.rstrip(b".") == name else None

    return published


def _signed_headers(raw: bytes) -> set[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    signature = re.search(r"DKIM-Signature:(.*?)(?=\r\n\S)", head, re.S)
    assert signature, "no DKIM-Signature header"
    tags = dict(
        part.strip().split("=", 1)
        for part in re.sub(r"\s+", "", signature.group(1)).split(";")
        if "=" in part
    )
    assert tags["d"] == DOMAIN and tags["s"] == SELECTOR
    return {h.lower() for h in tags["h"].split(":")}


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_every_sent_message_verifies_against_the_published_key(
    engine, database_url, world, sink, tmp_path, algorithm
):
    handler, port = sink
    record = new_key(tmp_path / "dkim.pem", algorithm)
    config = settings(database_url, port).model_copy(
        update={
            "dkim": DkimSettings(
                domain=DOMAIN, selector=SELECTOR, private_key_file=tmp_path / "dkim.pem"
            )
        }
    )
    executed(engine, world.streaming)
    assert send(engine, config).sent > 0
    lookup = _record_lookup(record)
    received = handler.received()
    assert received
    for item in received:
        raw = (handler.directory / item["file"]).read_bytes()
        assert dkim.verify(raw, dnsfunc=lookup), item["file"]
        assert {
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "list-unsubscribe",
            "list-unsubscribe-post",
        } <= _signed_headers(raw)
    # A changed byte breaks it: the check can fail.
    tampered = raw.replace(b"Subject:", b"Subject: Re:", 1)
    assert not dkim.verify(tampered, dnsfunc=lookup)


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_a_long_japanese_subject_folded_into_encoded_words_still_verifies(
    database_url, sink, tmp_path, algorithm
):
    handler, port = sink
    record = new_key(tmp_path / "dkim.pem", algorithm)
    config = settings(database_url, port).model_copy(
        update={
            "dkim": DkimSettings(
                domain=DOMAIN, selector=SELECTOR, private_key_file=tmp_path / "dkim.pem"
            )
        }
    )
    subject = (
        "昨夜のストリーミング障害についてのお詫びと、次回のご請求から差し引かれるクレジットのお知らせ"
        * 2
    )
    letter = Letter(subject=subject, text="本文です。", html="<p>本文です。</p>", locale="ja-JP")
    facts = replace(
        FACTS, locale="ja-JP", unsubscribe_url="https://video.example.com/unsubscribe/t"
    )
    envelope = Envelope("9.1", "hanako@example.com", "山田 花子", letter, facts)

    async def deliver():
        channel = SmtpChannel(config)
        try:
            return await channel.send(envelope)
        finally:
            await channel.close()

    assert asyncio.run(deliver()).outcome == "sent"
    [item] = handler.received()
    raw = (handler.directory / item["file"]).read_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"Subject: =?utf-8?" in head and b"\r\n =?utf-8?" in head  # folded
    assert dkim.verify(raw, dnsfunc=_record_lookup(record))
    assert handler.open(item)["Subject"] == subject


def test_dkim_check_verifies_a_sample_against_the_record(database_url, tmp_path):
    record = new_key(tmp_path / "dkim.pem", "rsa")
    config = settings(database_url, 25).model_copy(
        update={
            "dkim": DkimSettings(
                domain=DOMAIN, selector=SELECTOR, private_key_file=tmp_path / "dkim.pem"
            )
        }
    )
    assert sample_verifies(config, record)[0]
    other = new_key(tmp_path / "other.pem", "rsa")
    ok, why = sample_verifies(config, other)
    assert not ok and "does not match" in why
