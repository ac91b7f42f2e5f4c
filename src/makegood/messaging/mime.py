"""A rendered letter as an email: multipart text + HTML, with headers that
customer data cannot break (no line breaks, no control characters, encoded words
for anything beyond ASCII)."""

from __future__ import annotations

import email.policy
import email.utils
import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage

from makegood.config import CompanySettings
from makegood.core.errors import ConfigurationError
from makegood.messaging.rendering import Letter

CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


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


def message_id(campaign_id: int, message: int, sender: Address) -> str:
    """The same for every try of one message, so a relay or a mail client that sees a
    retry can tell it is the same letter."""
    return f"<makegood.{campaign_id}.{message}@{sender.domain}>"


def build(
    letter: Letter,
    *,
    sender: Address,
    reply_to: Address,
    to_name: str,
    to_address: str,
    msg_id: str,
    date: datetime,
) -> EmailMessage:
    user, _, domain = to_address.strip().rpartition("@")
    if not user or not domain or CONTROL.search(to_address):
        raise ValueError(f"{to_address!r} is not an address mail can go to")
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = sender
    mail["To"] = Address(display_name=one_line(to_name), username=user, domain=domain)
    mail["Reply-To"] = reply_to
    mail["Subject"] = one_line(letter.subject)
    mail["Date"] = email.utils.format_datetime(date)
    mail["Message-ID"] = msg_id
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(letter.text, cte="quoted-printable")
    mail.add_alternative(letter.html, subtype="html", cte="quoted-printable")
    mail["Content-Language"] = letter.locale  # after the body: set_content clears Content-*
    return mail
