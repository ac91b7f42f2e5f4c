"""Relays that fail in ways that are not the message's fault: a mailbox whose disk is
full refuses for now (452), so nobody is suppressed; a relay that refuses the TLS that
smtp_url asks for stops the sender with the reason, spending no message's tries."""

from __future__ import annotations

import errno

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from makegood.adapters import mailbox
from makegood.core.errors import ConfigurationError
from makegood.db.uow import UnitOfWork
from makegood.messaging.models import Message, Suppression
from tests.support.bad_relay import BadRelay, Behaviour
from tests.support.delivery import executed, send, settings


class FullDisk(mailbox.MailboxHandler):
    def __init__(self, directory, times: int) -> None:
        super().__init__(directory)
        self.left = times

    def store(self, envelope):
        if self.left > 0:
            self.left -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().store(envelope)


def _states(engine) -> dict[str, int]:
    with UnitOfWork(engine) as uow:
        return {
            s: n
            for s, n in uow.session.execute(
                select(Message.status, func.count()).group_by(Message.status)
            )
        }


def _suppressed(engine) -> int:
    with UnitOfWork(engine) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(Suppression)) or 0)


def test_a_full_mailbox_disk_is_a_temporary_refusal(engine, database_url, world, tmp_path):
    executed(engine, world.shipping)
    controller = mailbox.start(tmp_path / "box", handler=FullDisk(tmp_path / "box", 4))
    try:
        send(engine, settings(database_url, controller.port))
    finally:
        controller.stop()
    states = _states(engine)
    assert states == {"sent": sum(states.values())}
    assert _suppressed(engine) == 0


def test_a_relay_refusing_tls_stops_the_sender_and_spends_no_tries(engine, database_url, world):
    executed(engine, world.shipping)
    relay = BadRelay(Behaviour("ok")).start()
    tls = SecretStr(f"smtp+starttls://127.0.0.1:{relay.port}")
    try:
        with pytest.raises(ConfigurationError, match="smtp_url asks for TLS"):
            send(engine, settings(database_url, relay.port).model_copy(update={"smtp_url": tls}))
    finally:
        relay.stop()
    states = _states(engine)
    assert "sent" not in states and "failed" not in states and _suppressed(engine) == 0
    assert relay.seen == 0
