"""Reading bounces and complaints: what mail systems say back about the letters we sent.

Every apology makegood sends has a return path of the form ``bounce+TOKEN@domain``,
where the token names the message. When a letter cannot be delivered, or its reader
marks it as spam, the news comes back in one of two ways: an email to that return path,
or a call to a webhook from the sending provider (Amazon SES, SendGrid, Mailgun,
Postmark). This module reads both and says, for each recipient concerned, what
happened: a hard bounce (the address will not work), a soft bounce (it may work later)
or a complaint. It only reads; what to do about an outcome is the caller's business.

An email is judged by its structure first. A delivery status notification (RFC 3464)
or a feedback report (RFC 5965) is taken at its word, even when it also says it was
sent automatically, as many are. A plain-text bounce, in the ways Exim and qmail write
them, counts only when it comes from a mailer daemon, a postmaster or an empty return
path, and not when it looks like an automatic reply. So an out-of-office note, a
vacation message or a person who quotes "550 5.1.1" at us gives no outcome at all.
"""

from __future__ import annotations

import email.errors
import email.header
import email.message
import email.parser
import email.policy
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Kind = Literal["hard_bounce", "soft_bounce", "complaint"]
Message = email.message.Message
Fields = dict[str, list[str]]

HARD: Kind = "hard_bounce"
SOFT: Kind = "soft_bounce"
COMPLAINT: Kind = "complaint"
DETAIL_LIMIT = 500

BY_CLASS: dict[str, Kind] = {"5": HARD, "4": SOFT}
_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ORIGINALS = ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers")
_TOKEN_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To")

_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?!\d|\.\d)")
_SMTP_CODE = re.compile(r"(?<![\w.])([45])\d\d(?=[ -])")
_DIAGNOSTIC_TYPE = re.compile(r"^\s*[A-Za-z][\w.-]*\s*;\s*")
_ADDRESS_LINE = re.compile(r"^\s*<?([^\s<>@\"]+@[^\s<>@]+?)>?:?\s*$")
_COPY = re.compile(
    r"^-{2,}.*(?:copy of the message|below this line|original message|undelivered message).*$",
    re.IGNORECASE | re.MULTILINE,
)
_BOUNCE_TEXT = re.compile(
    r"(?:could not|has not yet) been delivered to one or more of its recipients"
    r"|the following address\(es\) failed|this is the qmail-send program"
    r"|wasn't able to deliver your message|permanent fatal errors"
    r"|delivery to the following recipients? (?:failed|has been delayed)",
    re.IGNORECASE,
)
_PERMANENT_TEXT = re.compile(r"permanent (?:error|failure)|i've given up", re.IGNORECASE)
_TEMPORARY_TEXT = re.compile(
    r"temporar|\bdelayed\b|will keep trying|not yet been delivered|attempts will continue",
    re.IGNORECASE,
)
_VACATION_SUBJECT = re.compile(
    r"\s*(?:out of (?:the )?office|automatic reply|auto(?:matic)?[ -]?re(?:ply|sponse)|auto:"
    r"|abwesenheitsnotiz|réponse automatique|respuesta automática|(?:on )?vacation)",
    re.IGNORECASE,
)


class FeedbackError(ValueError):
    """A webhook payload this module cannot read; the message says where it went wrong."""


@dataclass(frozen=True)
class Feedback:
    """One outcome for one recipient of one message."""

    kind: Kind
    recipient: str
    token: str | None
    status: str = ""
    detail: str = ""
    message_id: str | None = None


def from_email(message: Message, prefix: str = "bounce") -> list[Feedback]:
    """Outcomes in one received email: [] when it is not a bounce or complaint (a vacation
    auto-reply, an out-of-office, a human reply, a delivery success notice)."""
    parts = list(_parts(message))
    status_part = _report_part(parts, "delivery-status", _STATUS_TYPES)
    if status_part is not None:
        return _from_dsn(message, parts, status_part, prefix)
    arf_part = _report_part(parts, "feedback-report", ("message/feedback-report",))
    if arf_part is not None:
        return _from_arf(message, parts, arf_part, prefix)
    if not _may_be_text_bounce(message):
        return []
    return _from_text(message, parts, prefix)


def _from_dsn(message: Message, parts: list[Message], part: Message, prefix: str) -> list[Feedback]:
    """One outcome per failed or delayed recipient of a delivery status notification."""
    original = _original(parts)
    token, message_id = _token(message, original, prefix), _message_id(original)
    found = []
    for fields in _field_groups(_part_text(part)):
        if "action" not in fields and "final-recipient" not in fields:
            continue  # the per-message group: Reporting-MTA, Arrival-Date and so on
        diagnostic = diagnostic_of(_first(fields, "diagnostic-code"))
        status = status_of(_first(fields, "status")) or status_of(diagnostic)
        action = (_first(fields, "action").lower().split() or [""])[0]
        kind: Kind | None
        if action == "failed":
            kind = SOFT if status.startswith("4") else HARD
        elif action == "delayed":
            kind = SOFT
        elif not action:  # no Action field: go by the class of the status
            kind = BY_CLASS.get(status[:1])
        else:
            continue  # delivered, relayed, expanded
        # The address as we sent it (Original-Recipient), else where the mail ended up.
        recipient = address_of(_first(fields, "original-recipient")) or address_of(
            _first(fields, "final-recipient")
        )
        if kind is not None:
            found.append(feedback(kind, recipient, token, status, diagnostic, message_id))
    return found


def _from_arf(message: Message, parts: list[Message], part: Message, prefix: str) -> list[Feedback]:
    """A complaint for each recipient a feedback report names (abuse, fraud, other)."""
    fields: Fields = {}
    for group in _field_groups(_part_text(part)):
        for name, values in group.items():
            fields.setdefault(name, []).extend(values)
    feedback_type = (_first(fields, "feedback-type").lower().split() or ["abuse"])[0]
    if feedback_type not in ("abuse", "fraud", "other"):
        return []  # not-spam, virus, auth-failure: nothing the recipient complained of
    original = _original(parts)
    recipients = [address_of(value) for value in fields.get("original-rcpt-to", [])]
    if not any(recipients) and original is not None:
        pairs = email.utils.getaddresses([_header(original, "To")])
        recipients = [address_of(address) for _, address in pairs]
    token = _token(message, original, prefix, _first(fields, "original-mail-from"))
    return [
        feedback(COMPLAINT, recipient, token, "", feedback_type, _message_id(original))
        for recipient in list(dict.fromkeys(r for r in recipients if r)) or [""]
    ]


def _may_be_text_bounce(message: Message) -> bool:
    """Sent by mail software (a daemon, or an empty return path), not an automatic reply."""
    senders = email.utils.getaddresses([_header(message, "From"), _header(message, "Return-Path")])
    daemon = any(
        address.split("@")[0].lower() in ("mailer-daemon", "mailer_daemon", "postmaster")
        for _, address in senders
    )
    null_path = any(_decoded(v) in ("", "<>") for v in _values(message, "Return-Path"))
    marked = [
        _decoded(v).lower() for n in ("X-Autoreply", "X-Autorespond") for v in _values(message, n)
    ]
    if not (daemon or null_path) or any(v not in ("no", "false") for v in marked):
        return False
    subject = _header(message, "Subject")
    if _header(message, "Precedence").lower() == "auto_reply" or _VACATION_SUBJECT.match(subject):
        return False
    # Exim marks its bounces Auto-Submitted too; a vacation message from a person is not.
    return daemon or _header(message, "Auto-Submitted").lower() in ("", "no")


def _from_text(message: Message, parts: list[Message], prefix: str) -> list[Feedback]:
    """A bounce written for people (Exim, qmail and the like) rather than as a report."""
    body = next((_part_text(p) for p in parts if p.get_content_type() == "text/plain"), "")
    if not _BOUNCE_TEXT.search(_one_line(body)):
        return []
    marker = _COPY.search(body)
    report, copy = (body[: marker.start()], body[marker.end() :]) if marker else (body, "")
    original = _original(parts) or (_headers_from_text(copy) if copy.strip() else None)
    token, message_id = _token(message, original, prefix), _message_id(original)
    blocks = _address_blocks(report)
    if not blocks:
        failed = email.utils.getaddresses([_header(message, "X-Failed-Recipients")])
        blocks = [(address, "") for _, address in failed if address] or [("", "")]
    flat = _one_line(report)
    temporary = _TEMPORARY_TEXT.search(flat) and not _PERMANENT_TEXT.search(flat)
    found = []
    for address, diagnostic in blocks:
        code = _SMTP_CODE.search(diagnostic)
        status = status_of(diagnostic) or (f"{code.group(1)}.0.0" if code else "")
        kind = BY_CLASS.get(status[:1]) if status else (SOFT if temporary else HARD)
        if kind is not None:
            found.append(feedback(kind, address, token, status, diagnostic, message_id))
    return found


def _address_blocks(text: str) -> list[tuple[str, str]]:
    """Each address alone on its line, with the lines under it up to the next blank."""
    blocks: list[list[str]] = []
    open_block = False
    for line in text.splitlines():
        match = _ADDRESS_LINE.match(line)
        if match:
            blocks.append([match.group(1)])
        elif open_block and line.strip():
            blocks[-1].append(line)
        open_block = bool(line.strip()) and (open_block or match is not None)
    unique: dict[str, str] = {}
    for address, *lines in blocks:
        unique.setdefault(address.lower(), " ".join(lines))
    return list(unique.items())


def _parts(message: Message) -> Iterator[Message]:
    """The message and its multipart descendants; an attached message is not opened."""
    yield message
    payload = message.get_payload()
    if message.get_content_maintype() == "multipart" and isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from _parts(part)


def _report_part(parts: list[Message], report_type: str, types: tuple[str, ...]) -> Message | None:
    """The machine-readable part of a report: by its type, else the report's second part
    (some software labels it text/plain)."""
    for part in parts:
        if part.get_content_type() in types:
            return part
    for part in parts:
        declared = email.utils.collapse_rfc2231_value(part.get_param("report-type") or "")
        payload = part.get_payload()
        if part.get_content_type() != "multipart/report" or declared.lower() != report_type:
            continue
        if isinstance(payload, list) and len(payload) > 1 and isinstance(payload[1], Message):
            return payload[1]
    return None


def _part_text(part: Message) -> str:
    """A part as text; a part Python read as blocks of fields is written back as text."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return "\n\n".join(_rendered(block) for block in payload if isinstance(block, Message))
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return str(payload or "")
    try:
        return raw.decode(part.get_content_charset() or "utf-8", errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _rendered(block: Message) -> str:
    head = "\n".join(f"{name}: {_one_line(str(value))}" for name, value in block.items())
    body = block.get_payload()
    return f"{head}\n\n{body}" if isinstance(body, str) and body.strip() else head


def _field_groups(text: str) -> list[Fields]:
    """``Name: value`` lines in groups split by blank lines; continuation lines joined."""
    groups: list[Fields] = [{}]
    last: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            groups.append({})
            last = None
        elif line[0] in " \t" and last:
            last[-1] = f"{last[-1]} {line.strip()}"
        elif ":" in line and line.partition(":")[0].strip():
            name, _, value = line.partition(":")
            last = groups[-1].setdefault(name.strip().lower(), [])
            last.append(value.strip())
    return [group for group in groups if group]


def _original(parts: list[Message]) -> Message | None:
    """The headers of the message the report is about, when the report includes them."""
    for part in parts:
        if part.get_content_type() in _ORIGINALS:
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            return _headers_from_text(_part_text(part))
    return None


def _headers_from_text(text: str) -> Message:
    parser = email.parser.Parser(policy=email.policy.compat32)
    return parser.parsestr(text.lstrip("\r\n"), headersonly=True)


def _token(message: Message, original: Message | None, prefix: str, *more: str) -> str | None:
    """The VERP token from the report's own headers, else the original's Return-Path."""
    texts = [_header(message, name) for name in _TOKEN_HEADERS]
    texts += [_header(original, "Return-Path")] if original is not None else []
    return next((t for t in (token_in(text, prefix) for text in [*texts, *more]) if t), None)


def token_in(text: str, prefix: str) -> str | None:
    before = r"(?<![\w.!#$%&'*+/=?^`{|}~-])"
    pattern = before + re.escape(prefix) + r"\+([A-Za-z0-9_-]{1,100})@"
    match = re.search(pattern, text, re.IGNORECASE)
    return match.group(1) if match else None


def _message_id(original: Message | None) -> str | None:
    return (_header(original, "Message-ID") or None) if original is not None else None


def _values(message: Message, name: str) -> list[object]:
    try:
        return list(message.get_all(name) or [])
    except (ValueError, TypeError, IndexError, AttributeError, email.errors.MessageError):
        return []  # a header too broken for the email package to parse


def _header(message: Message, name: str) -> str:
    return ", ".join(_decoded(value) for value in _values(message, name))


def _decoded(value: object) -> str:
    text = str(value)
    if "=?" not in text:
        return _one_line(text)
    try:
        return _one_line(str(email.header.make_header(email.header.decode_header(text))))
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return _one_line(text)


def feedback(
    kind: Kind, recipient: str, token: str | None, status: str, detail: str, message_id: str | None
) -> Feedback:
    status = "" if kind == COMPLAINT else status
    detail, message_id = _one_line(detail)[:DETAIL_LIMIT], _one_line(message_id or "") or None
    return Feedback(kind, address_of(recipient), token, status, detail, message_id)


def status_of(text: str) -> str:
    match = _STATUS.search(text)
    return match.group(1) if match else ""


def diagnostic_of(text: str) -> str:
    """The diagnostic without its type: ``smtp; 550 ...`` becomes ``550 ...``."""
    return _one_line(_DIAGNOSTIC_TYPE.sub("", text, count=1))


def address_of(text: str) -> str:
    """A bare, lower-case address; "" when the text holds none. A DSN's address type
    (``rfc822; someone@example.org``) is dropped; other types are not email addresses."""
    address_type, semicolon, rest = _one_line(text).partition(";")
    if semicolon and address_type.strip().lower() not in ("rfc822", "utf-8"):
        return ""
    text = rest if semicolon else address_type
    address = email.utils.parseaddr(text)[1] or text
    address = address.strip().strip("<>").strip().lower()
    return address if "@" in address and " " not in address else ""


def _first(fields: Fields, name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())
