"""A real SMTP sink for tests, executed seed campaigns, and a sender pointed at it."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine

from makegood.adapters import mailbox
from makegood.campaigns.execution import execute
from makegood.campaigns.planning import plan
from makegood.campaigns.service import approve
from makegood.config import DeliverySettings, Settings
from makegood.core.clock import FixedClock
from makegood.db.uow import UnitOfWork
from makegood.entrypoints.wiring import build_root
from makegood.messaging.sender import Counts, for_root
from makegood.policy.schema import parse_policy
from tests.support import truth as gt
from tests.support.world import SECRET, SEED_POLICY

SENT_AT = gt.NOW + timedelta(hours=2)


class Sink(mailbox.MailboxHandler):
    """The built-in mailbox, with a hook to refuse messages as a relay would."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.refuse: Callable[[Envelope], str | None] = lambda envelope: None
        self.seen: list[str] = []  # every recipient offered, refused or not
        self.server: SMTP | None = None  # the connection now in DATA, for tests that drop it
        # Seconds to wait before answering one message; the other connections go on.
        self.delay: Callable[[Envelope], float] = lambda envelope: 0.0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.server = server
        refused = self.refusal(envelope)
        wait = self.delay(envelope)
        if wait:
            await asyncio.sleep(wait)
        if refused is not None:
            return refused
        self.store(envelope)
        return "250 Message accepted for delivery"

    def refusal(self, envelope: Envelope) -> str | None:
        self.seen.extend(str(r) for r in envelope.rcpt_tos)
        return self.refuse(envelope)

    def received(self) -> list[dict[str, Any]]:
        return mailbox.read_index(self.directory)

    def recipients(self) -> list[str]:
        """Every recipient of every accepted message, once per message."""
        return [to for item in self.received() for to in item["rcpt_tos"]]

    def message_ids(self) -> Counter[str]:
        return Counter(item["message_id"] for item in self.received())

    def open(self, item: dict[str, Any]) -> email.message.EmailMessage:
        raw = (self.directory / item["file"]).read_bytes()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed


def executed(engine: Engine, incident: int, now=gt.NOW) -> int:
    """Plan, approve and execute the seed policy for one incident; the campaign id."""
    with UnitOfWork(engine) as uow:
        campaign = plan(uow.session, incident, parse_policy(SEED_POLICY), Decimal(0), now, "cx")
        approve(uow.session, campaign.id, "lead", now)
        uow.commit()
    execute(engine, campaign.id, now, "ops", SECRET)
    return campaign.id


def settings(database_url: str, port: int, **delivery: Any) -> Settings:
    options = {"backoff_seconds": 0.05, "backoff_max_seconds": 0.2, "poll_seconds": 0.05}
    options.update(delivery)
    return Settings(
        database_url=database_url,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key=SECRET,
        base_url="https://video.example.com",
        delivery=DeliverySettings(**options),
    )


def send(engine: Engine, config: Settings, mode: str = "until_empty") -> Counts:
    sender = for_root(build_root(config, FixedClock(SENT_AT), engine))
    return asyncio.run(sender.run(mode))
