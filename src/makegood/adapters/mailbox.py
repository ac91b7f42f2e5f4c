"""The built-in SMTP sink: every message it receives is kept as an ``.eml`` file,
with one line per message in ``index.jsonl``, so a new user (and the demo) can read
exactly what was sent."""

from __future__ import annotations

import email
import email.policy
import json
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

INDEX = "index.jsonl"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (aiosmtpd cannot bind port 0 itself)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    file: str
    received_at: str
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    message_id: str


class MailboxHandler:
    """aiosmtpd handler that stores each message; subclasses may refuse some."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._count = sum(1 for _ in directory.glob("*.eml"))

    def refusal(self, envelope: Envelope) -> str | None:
        """An SMTP reply to refuse this message with, or None to keep it."""
        return None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refused = self.refusal(envelope)
        if refused is not None:
            return refused
        try:
            self.store(envelope)
        except OSError as exc:
            # A full or unwritable disk is the sink's trouble, not the address's: a
            # temporary refusal, so the sender tries again later and suppresses no one.
            # (aiosmtpd would answer an escaped error with 500, a permanent refusal.)
            return f"452 4.3.1 Insufficient system storage ({exc.strerror or exc})"
        return "250 Message accepted for delivery"

    def store(self, envelope: Envelope) -> Received:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        with self._lock:
            self._count += 1
            name = f"{self._count:07d}.eml"
            temp = self.directory / f".{name}.part"
            temp.write_bytes(raw)
            os.replace(temp, self.directory / name)  # never a half-written .eml
            item = Received(
                file=name,
                received_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                mail_from=str(envelope.mail_from or ""),
                rcpt_tos=[str(r) for r in envelope.rcpt_tos],
                subject=str(parsed.get("Subject", "")),
                message_id=str(parsed.get("Message-ID", "")),
            )
            with (self.directory / INDEX).open("a", encoding="utf-8") as index:
                index.write(json.dumps(item.__dict__, ensure_ascii=False) + "\n")
        return item


def start(
    directory: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    handler: MailboxHandler | None = None,
) -> Controller:
    """Start the sink in a background thread; ``controller.stop()`` ends it."""
    controller = Controller(
        handler or MailboxHandler(directory),
        hostname=host,
        port=port or free_port(host),
        enable_SMTPUTF8=True,
        data_size_limit=25 * 1024 * 1024,
    )
    controller.start()
    return controller


def read_index(directory: Path) -> list[dict[str, Any]]:
    """What the sink has received, oldest first."""
    path = directory / INDEX
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
