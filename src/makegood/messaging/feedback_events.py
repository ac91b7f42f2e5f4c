"""Bounces and complaints from mail providers' event feeds: the JSON an HTTP webhook
receives from Amazon SES (directly or inside an SNS notification), SendGrid, Mailgun
or Postmark, read into the same outcomes as the emails feedback_reports reads; and
the subscription confirmations Amazon SNS sends before its first notification."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from makegood.messaging.feedback_reports import (
    BY_CLASS,
    COMPLAINT,
    HARD,
    SOFT,
    Feedback,
    FeedbackError,
    Kind,
    address_of,
    diagnostic_of,
    feedback,
    status_of,
    token_in,
)

JsonObject = dict[str, object]

_SEVERITY: dict[str, Kind] = {"permanent": HARD, "temporary": SOFT}
_POSTMARK: dict[str, Kind] = dict.fromkeys(("HardBounce", "BadEmailAddress"), HARD)
_POSTMARK |= dict.fromkeys(("SoftBounce", "Transient", "DnsError", "Blocked"), SOFT)
_POSTMARK["SpamComplaint"] = COMPLAINT


def from_event(payload: object, prefix: str = "bounce") -> list[Feedback]:
    """Outcomes in one HTTP webhook payload from a mail provider's event feed (a dict or
    a list of dicts, or their JSON text). Deliveries, opens and clicks are skipped;
    FeedbackError names the first event (counted from 0) that cannot be read."""
    if isinstance(payload, str | bytes | bytearray):
        payload = _json(payload, "payload")
    if not isinstance(payload, dict | list):
        raise FeedbackError(
            f"payload: expected a JSON object or list, not {type(payload).__name__}"
        )
    events: list[object] = [payload] if isinstance(payload, dict) else payload
    found = []
    for number, event in enumerate(events):
        where = f"event {number}"
        found.extend(_one_event(_object(event, where), prefix, where))
    return found


@dataclass(frozen=True)
class SnsConfirmation:
    """An Amazon SNS ``SubscriptionConfirmation``: the subscription stays pending until
    someone opens ``subscribe_url`` once (or confirms it with the token)."""

    topic_arn: str
    subscribe_url: str
    message_id: str


def sns_confirmations(payload: object) -> list[SnsConfirmation]:
    """The SNS subscription confirmations in a webhook payload (as from_event takes it).
    One whose SubscribeURL is not https on a host under .amazonaws.com is left out:
    only Amazon's own confirmation links are worth showing an operator."""
    if isinstance(payload, str | bytes | bytearray):
        payload = _json(payload, "payload")
    events = [payload] if isinstance(payload, dict) else payload
    found = []
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict) or event.get("Type") != "SubscriptionConfirmation":
            continue
        url = event.get("SubscribeURL")
        if isinstance(url, str) and amazon_link(url):
            found.append(SnsConfirmation(_text(event, "TopicArn"), url, _text(event, "MessageId")))
    return found


def amazon_link(url: str) -> bool:
    """Whether ``url`` is plainly an https link to a host under .amazonaws.com: no user
    name, port, backslash, space or control character that could make a browser read
    another host than the one checked here."""
    if not url.isprintable() or " " in url or "\\" in url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = parts.hostname or ""
    return (
        parts.scheme == "https"
        and parts.netloc.lower() == host
        and host.endswith(".amazonaws.com")
        and re.fullmatch(r"[a-z0-9.-]+", host) is not None
    )


def _one_event(event: JsonObject, prefix: str, where: str) -> list[Feedback]:
    if "Type" in event and isinstance(event.get("Message"), str):  # an SNS envelope
        if event["Type"] != "Notification":
            return []  # SubscriptionConfirmation and the like
        inner = _json(str(event["Message"]), f"{where}: Message")
        return _one_event(_object(inner, f"{where}: Message"), prefix, where)
    if "notificationType" in event or "eventType" in event:
        return _from_ses(event, prefix, where)
    if "RecordType" in event:
        return _from_postmark(event, where)
    if "event-data" in event:
        return _from_mailgun(_object(event["event-data"], f"{where}: event-data"), prefix, where)
    if "event" in event:
        if any(key in event for key in ("recipient", "severity", "delivery-status", "envelope")):
            return _from_mailgun(event, prefix, where)
        return _from_sendgrid(event, where)
    keys = ", ".join(sorted(event)[:8]) or "none"
    raise FeedbackError(f"{where}: not an event of a known provider (keys: {keys})")


def _from_ses(event: JsonObject, prefix: str, where: str) -> list[Feedback]:
    """Amazon SES: a bounce (Permanent is hard; Transient and Undetermined soft) or a complaint."""
    name = _text(event, "notificationType") or _text(event, "eventType")
    mail = _object(event.get("mail", {}), f"{where}: mail")
    token, message_id = token_in(_text(mail, "source"), prefix), _text(mail, "messageId") or None
    if name == "Bounce":
        bounce = _object(event.get("bounce"), f"{where}: bounce")
        kind = HARD if _text(bounce, "bounceType") == "Permanent" else SOFT
        otherwise = f"{_text(bounce, 'bounceType')} {_text(bounce, 'bounceSubType')}"
        found = []
        for address, entry in _recipients(bounce, "bouncedRecipients", where):
            detail = diagnostic_of(_text(entry, "diagnosticCode"))
            status = status_of(_text(entry, "status")) or status_of(detail)
            found.append(feedback(kind, address, token, status, detail or otherwise, message_id))
        return found
    if name == "Complaint":
        complaint = _object(event.get("complaint"), f"{where}: complaint")
        feedback_type = _text(complaint, "complaintFeedbackType") or "complaint"
        if feedback_type in ("not-spam", "virus"):
            return []
        return [
            feedback(COMPLAINT, address, token, "", feedback_type, message_id)
            for address, _ in _recipients(complaint, "complainedRecipients", where)
        ]
    return []


def _recipients(container: JsonObject, key: str, where: str) -> list[tuple[str, JsonObject]]:
    entries = container.get(key)
    if not isinstance(entries, list) or not entries:
        raise FeedbackError(f"{where}: no recipient ({key} is missing or empty)")
    items = [_object(entry, f"{where}: {key}[{n}]") for n, entry in enumerate(entries)]
    return [
        (_required_address(item.get("emailAddress"), f"{where}: {key}[{n}]"), item)
        for n, item in enumerate(items)
    ]


def _from_sendgrid(event: JsonObject, where: str) -> list[Feedback]:
    """SendGrid: bounce (type blocked is soft), blocked, deferred, dropped, spamreport."""
    name, reason = _text(event, "event"), _text(event, "reason")
    kind: Kind
    if name == "bounce":
        kind = SOFT if _text(event, "type") == "blocked" else HARD
    elif name in ("blocked", "deferred"):
        kind = SOFT
    elif name == "spamreport":
        kind = COMPLAINT
    elif name == "dropped" and re.search("bounced|invalid", reason, re.IGNORECASE):
        kind = HARD  # SendGrid will not send to an address that bounced before
    else:
        return []  # processed, delivered, open, click, unsubscribe, other drops
    address = _required_address(event.get("email"), where)
    detail = reason or _text(event, "response") or name
    status = status_of(_text(event, "status")) or status_of(detail)
    message_id = _text(event, "smtp-id") or _text(event, "sg_message_id") or None
    return [feedback(kind, address, None, status, detail, message_id)]


def _from_mailgun(data: JsonObject, prefix: str, where: str) -> list[Feedback]:
    """Mailgun: failed (severity permanent or temporary) or complained."""
    name = _text(data, "event")
    if name not in ("failed", "complained"):
        return []
    address = _required_address(data.get("recipient"), where)
    envelope = _object(data.get("envelope", {}), f"{where}: envelope")
    message = _object(data.get("message", {}), f"{where}: message")
    headers = _object(message.get("headers", {}), f"{where}: message.headers")
    raw_id = _text(headers, "message-id").strip("<>")  # Mailgun drops the angle brackets
    token = token_in(_text(envelope, "sender"), prefix)
    message_id = f"<{raw_id}>" if raw_id else None
    if name == "complained":
        return [feedback(COMPLAINT, address, token, "", "complained", message_id)]
    delivery = _object(data.get("delivery-status", {}), f"{where}: delivery-status")
    detail = _text(delivery, "message") or _text(delivery, "description") or _text(data, "reason")
    code = _text(delivery, "code")[:1]
    status = status_of(_text(delivery, "enhanced-code")) or status_of(detail)
    status = status or (f"{code}.0.0" if code in ("4", "5") else "")
    kind = _SEVERITY.get(_text(data, "severity")) or BY_CLASS.get(status[:1], HARD)
    return [feedback(kind, address, token, status, detail, message_id)]


def _from_postmark(event: JsonObject, where: str) -> list[Feedback]:
    """Postmark: a Bounce record (by its Type) or a SpamComplaint record."""
    record = _text(event, "RecordType")
    kind = _POSTMARK.get(_text(event, "Type") or record)
    if record not in ("Bounce", "SpamComplaint") or kind is None:
        return []  # deliveries, opens, clicks; AutoResponder and other non-bounces
    address = _required_address(event.get("Email"), where)
    details = diagnostic_of(_text(event, "Details")) or _text(event, "Description")
    message_id = _text(event, "MessageID") or None
    return [feedback(kind, address, None, status_of(details), details, message_id)]


def _json(text: str | bytes | bytearray, where: str) -> object:
    try:
        return json.loads(text)
    except ValueError as error:
        raise FeedbackError(f"{where}: not JSON ({error})") from None


def _object(value: object, where: str) -> JsonObject:
    if isinstance(value, dict):
        return value
    raise FeedbackError(f"{where}: expected an object, not {type(value).__name__}")


def _text(obj: JsonObject, key: str) -> str:
    value = obj.get(key)
    if isinstance(value, str):
        return value.strip()
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _required_address(value: object, where: str) -> str:
    if value is None or value == "":
        raise FeedbackError(f"{where}: no recipient")
    address = address_of(value) if isinstance(value, str) else ""
    if not address:
        raise FeedbackError(f"{where}: recipient {value!r} is not an email address")
    return address
