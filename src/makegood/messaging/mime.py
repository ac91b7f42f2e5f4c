"""A rendered letter as an email: multipart text + HTML, with headers that
customer data cannot break (no line breaks, no control characters, encoded words
for anything beyond ASCII).

The bytes are put together here rather than by ``email.message.EmailMessage``,
whose header objects cost milliseconds per message: at thousands of messages a
second that was most of a sender's time. Bodies are quoted-printable (C-speed
``binascii``), and the multipart boundary contains "=_", which quoted-printable
text can never contain.
"""

from __future__ import annotations

import binascii
import email.utils
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header, decode_header, make_header
from email.headerregistry import Address
from functools import lru_cache

from makegood.config import CompanySettings
from makegood.core.errors import ConfigurationError
from makegood.messaging.rendering import Letter

CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
CRLF = b"\r\n"


def one_line(value: str) -> str:
    """A header-safe single line: every control character becomes a space."""
    return " ".join(CONTROL.sub(" ", value).split())


def parse_mailbox(value: str, field: str) -> Address:
    """'Example Video <apologies@example.com>' as an Address; anything else is an error."""
    name, address = email.utils.parseaddr(one_line(value))
    if "@" not in address:
        raise ConfigurationError(
            f"{field}: {value!r} is not an email address "
            "(expected e.g. 'Example Video <apologies@example.com>')"
        )
    user, _, domain = address.rpartition("@")
    return Address(display_name=name, username=user, domain=domain)


def addresses(company: CompanySettings) -> tuple[Address, Address]:
    """From and Reply-To (the sender, unless a reply_to is set)."""
    sender = parse_mailbox(company.sender, "company.sender")
    if not company.reply_to:
        return sender, sender
    return sender, parse_mailbox(company.reply_to, "company.reply_to")


def message_id(key: str, sender: Address) -> str:
    """From makegood's key for a message (``campaign.message``): the same for every try
    of one message, so a relay or a mail client that sees a retry can tell it is the
    same letter."""
    return f"<makegood.{key}@{sender.domain}>"


@dataclass(frozen=True)
class Email:
    """A message ready for SMTP: envelope, headers (as sent) and the whole text."""

    mail_from: str
    rcpt_to: str
    headers: tuple[tuple[str, str], ...]
    raw: bytes

    def readable_headers(self) -> dict[str, str]:
        """Headers with encoded words decoded, for people."""
        return {k: str(make_header(decode_header(v))) for k, v in self.headers}


def mailbox_header(name: str, address: str) -> str:
    return email.utils.formataddr((one_line(name), address), charset="utf-8")


def text_header(value: str) -> str:
    value = one_line(value)
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8").encode(linesep="\r\n")


def _crlf(value: str) -> str:
    if "\n" not in value:
        return value
    return value.replace("\r\n", "\n").replace("\n", "\r\n")


# What is the same for many messages, worked out once: the company's own addresses,
# the Date of a run, a subject without the reader's name, the letter's language.
@lru_cache(maxsize=64)
def _mailbox(name: str, username: str, domain: str) -> tuple[str, str]:
    """(the header, the bare address) of an Address's parts."""
    spec = Address(display_name=name, username=username, domain=domain).addr_spec
    return mailbox_header(name, spec), spec


def _date_header(date: datetime) -> str:
    # Keyed by the offset too: instants that are equal in different zones read differently.
    return _date_in_zone(date, date.utcoffset())


@lru_cache(maxsize=256)
def _date_in_zone(date: datetime, offset: timedelta | None) -> str:
    return email.utils.format_datetime(date)


_subject_header = lru_cache(maxsize=4096)(text_header)
_language = lru_cache(maxsize=256)(one_line)


def _part(content_type: str, body: str) -> bytes:
    lines = body.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(lines.encode("utf-8"), istext=True).replace(b"\n", CRLF)
    return _part_head(content_type) + encoded


@lru_cache(maxsize=8)
def _part_head(content_type: str) -> bytes:
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode()


def build(
    letter: Letter,
    *,
    sender: Address,
    reply_to: Address,
    to_name: str,
    to_address: str,
    msg_id: str,
    date: datetime,
    unsubscribe_url: str | None = None,
) -> Email:
    address = to_address.strip()
    user, _, domain = address.rpartition("@")
    if not user or not domain or CONTROL.search(address) or " " in address:
        raise ValueError(f"{to_address!r} is not an address mail can go to")
    from_header, mail_from = _mailbox(sender.display_name, sender.username, sender.domain)
    headers: tuple[tuple[str, str], ...] = (
        ("From", from_header),
        ("To", mailbox_header(to_name, address)),
        ("Reply-To", _mailbox(reply_to.display_name, reply_to.username, reply_to.domain)[0]),
        ("Subject", _subject_header(letter.subject)),
        ("Date", _date_header(date)),
        ("Message-ID", one_line(msg_id)),
        ("Content-Language", _language(letter.locale)),
        ("Auto-Submitted", "auto-generated"),
        ("MIME-Version", "1.0"),
    )
    if unsubscribe_url:
        # RFC 8058: a mail client's "unsubscribe" is one POST to this URL, no page.
        headers += (
            ("List-Unsubscribe", f"<{one_line(unsubscribe_url)}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        )
    boundary = "=_makegood_" + hashlib.sha256(msg_id.encode()).hexdigest()[:24]
    # Folding inside an encoded header is the only line break a value can hold.
    head = "".join(f"{k}: {_crlf(v)}\r\n" for k, v in headers)
    head += f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
    mark = f"--{boundary}\r\n".encode()
    raw = (
        head.encode("ascii")
        + mark
        + _part("text/plain", letter.text)
        + CRLF
        + mark
        + _part("text/html", letter.html)
        + CRLF
        + f"--{boundary}--\r\n".encode()
    )
    return Email(mail_from, address, headers, raw)
