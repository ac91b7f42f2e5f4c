"""The email channel: SMTP to one relay over a few reused connections, an answer for
every try.

A reply in the 2xx range means the relay took the message; 4xx, a timeout or a
dropped connection mean "try again later"; 5xx means "never" (the address is bad
or refuses mail), which makegood turns into a suppression.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from makegood.adapters.dkim_signing import signer
from makegood.config import Settings
from makegood.core.errors import ConfigurationError
from makegood.core.tokens import bounce_token
from makegood.messaging import mime
from makegood.messaging.letters import LetterFacts
from makegood.messaging.ports import Answer, Envelope


@dataclass(frozen=True)
class Relay:
    hostname: str
    port: int
    use_tls: bool = False  # implicit TLS (smtps://)
    start_tls: bool = False
    username: str | None = None
    password: str | None = None


def parse_relay(url: str) -> Relay:
    """smtp://host:port, smtp+starttls://user:pass@host:587 or smtps://host:465."""
    parts = urlsplit(url)
    schemes = {
        "smtp": (25, False, False),
        "smtp+starttls": (587, False, True),
        "smtps": (465, True, False),
    }
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigurationError(
            f"smtp_url {url!r} is not understood; expected smtp://HOST:PORT, "
            "smtp+starttls://USER:PASSWORD@HOST:587 or smtps://HOST:465"
        )
    port, implicit, starttls = schemes[parts.scheme]
    return Relay(
        hostname=parts.hostname,
        port=parts.port or port,
        use_tls=implicit,
        start_tls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def answer_for_code(code: int, detail: str) -> Answer:
    if 200 <= code < 300:
        return Answer("sent", code=code, detail=detail)
    return Answer("failed" if code >= 500 else "retry", code=code, detail=detail)


class SmtpPool:
    """Up to ``size`` connections, each used by one send at a time and kept open."""

    def __init__(self, relay: Relay, size: int, timeout: float) -> None:
        self.relay, self.timeout = relay, timeout
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(None)

    async def _connect(self) -> aiosmtplib.SMTP:
        r = self.relay
        client = aiosmtplib.SMTP(
            hostname=r.hostname,
            port=r.port,
            use_tls=r.use_tls,
            start_tls=r.start_tls,
            username=r.username,
            password=r.password,
            timeout=self.timeout,
            tls_context=ssl.create_default_context() if (r.use_tls or r.start_tls) else None,
        )
        await client.connect()
        return client

    async def _secure(self, connecting: Any) -> aiosmtplib.SMTP:
        """A connection, or a ConfigurationError when the TLS that smtp_url asks for
        fails: that is the settings' trouble, not the messages', so the sender stops
        with the reason instead of spending every message's tries on it."""
        try:
            client: aiosmtplib.SMTP = await connecting
        except (aiosmtplib.SMTPException, ssl.SSLError) as exc:
            r = self.relay
            said = f"{type(exc).__name__}: {exc}".strip()
            if (r.use_tls or r.start_tls) and (isinstance(exc, ssl.SSLError) or "TLS" in said):
                raise ConfigurationError(
                    f"smtp_url asks for TLS, and {r.hostname}:{r.port} refused or failed it "
                    f"({said}); fix the relay's TLS or the address, then send again"
                ) from None
            raise
        return client

    async def send(self, mail_from: str, rcpt_to: str, raw: bytes) -> Answer:
        """Hand one message to the relay; never raises for what the relay or network
        says (a failed TLS handshake is a settings error: ConfigurationError)."""
        client = await self._idle.get()
        try:
            if client is None or not client.is_connected:
                client = await self._secure(self._connect())
            errors, response = await client.sendmail(mail_from, [rcpt_to], raw)
            if errors:  # one recipient per message: a partial refusal cannot happen
                code, detail = next(iter(errors.values()))
                return answer_for_code(code, detail)
            return Answer("sent", code=250, detail=response)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            return answer_for_code(refused.code, refused.message)
        except aiosmtplib.SMTPResponseException as exc:
            return answer_for_code(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await _close(client)
            client = None
            return Answer("retry", detail=f"{type(exc).__name__}: {exc}".strip())
        except asyncio.CancelledError:
            # Stopped mid-conversation: the connection is in an unknown state, and a
            # polite QUIT could wait for a reply that never comes. Drop it.
            if client is not None:
                client.close()
            client = None
            raise
        finally:
            self._idle.put_nowait(client)

    async def close(self) -> None:
        while not self._idle.empty():
            await _close(self._idle.get_nowait())


async def _close(client: aiosmtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        if client.is_connected:
            await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()


class SmtpChannel:
    """Each letter as a MIME message from the company's sender, over an ``SmtpPool``.

    The Message-ID is makegood's key for the message, so every try of one message
    carries the same one, and it is the id the provider's answer is filed under."""

    def __init__(self, settings: Settings) -> None:
        self.from_, self.reply_to = mime.addresses(settings.company)
        delivery = settings.delivery
        relay = parse_relay(settings.smtp_url.get_secret_value())
        self.pool = SmtpPool(relay, delivery.connections, delivery.timeout_seconds)
        self.signer = signer(settings.dkim)
        self.bounces, self.secret_key = settings.bounces, settings.secret_key.get_secret_value()

    def address(self, facts: LetterFacts) -> str:
        return facts.email.strip()

    async def send(self, envelope: Envelope) -> Answer:
        msg_id = envelope.provider_id or mime.message_id(envelope.key, self.from_)
        try:
            mail = mime.build(
                envelope.letter,
                sender=self.from_,
                reply_to=self.reply_to,
                to_name=envelope.to_name,
                to_address=envelope.address,
                msg_id=msg_id,
                date=envelope.facts.sent_at,
                unsubscribe_url=envelope.facts.unsubscribe_url,
            )
        except ValueError as exc:
            return Answer("failed", provider_id=msg_id, detail=f"not sent: {exc}")
        raw = self.signer.sign(mail.raw) if self.signer else mail.raw
        answer = await self.pool.send(self._return_path(envelope, mail), mail.rcpt_to, raw)
        return Answer(answer.outcome, msg_id, answer.code, answer.detail)

    def _return_path(self, envelope: Envelope, mail: mime.Email) -> str:
        """With ``[bounces] domain`` set, ``prefix+TOKEN@domain`` (VERP): a bounce or a
        complaint then names the message it is about; else the sender's address."""
        if not self.bounces.domain:
            return mail.mail_from
        token = bounce_token(self.secret_key, envelope.message_number)
        if not token:
            return mail.mail_from
        return f"{self.bounces.prefix}+{token}@{self.bounces.domain}"

    async def close(self) -> None:
        await self.pool.close()


def channel(settings: Settings) -> SmtpChannel:
    """The ``smtp`` entry point of ``makegood.channels``."""
    return SmtpChannel(settings)
