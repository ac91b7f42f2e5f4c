"""Use case: act on what mail systems said after taking a message — bounces and
complaints read by feedback_reports (emails) or feedback_events (provider webhooks).

Each outcome is matched to the message it is about: by the VERP token in its return
path (checked against the secret key), else by the address, to the newest email sent
to it. Then:

- a hard bounce marks the message ``bounced`` and suppresses the address;
- a complaint suppresses the address and opts the customer out (as an unsubscribe
  would: credits still come, letters stop), audited;
- a soft bounce is counted, nothing more.

Each outcome is stored once under its report's key and its place in the report, so
reading the same mailbox, file or webhook delivery again changes nothing.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.core.tokens import bounce_message
from makegood.db.bulk import dialect
from makegood.messaging.feedback_reports import COMPLAINT, HARD, Feedback
from makegood.messaging.models import MailFeedback, Message
from makegood.messaging.outbox import suppress
from makegood.messaging.unsubscribe import quiet_phone

COUNTED = ("hard_bounce", "soft_bounce", "complaint", "already_read", "unmatched")


def report_key(raw: bytes) -> str:
    """The key a report is stored under: the SHA-256 of its bytes."""
    return hashlib.sha256(raw).hexdigest()


def take(
    session: Session,
    found: Sequence[Feedback],
    key: str,
    source: str,
    now: datetime,
    secret_key: str,
) -> Counter[str]:
    """Store and act on the outcomes of one report; counts by kind, plus
    ``already_read`` (stored before) and ``unmatched`` (no message of ours)."""
    counts: Counter[str] = Counter()
    for position, outcome in enumerate(found):
        message = _message_for(session, outcome, secret_key)
        if not _store(session, key, position, source, now, outcome, message):
            counts["already_read"] += 1
            continue
        counts[outcome.kind] += 1
        if message is None:
            counts["unmatched"] += 1
        _act(session, outcome, message, now, source)
    return counts


def _act(
    session: Session, outcome: Feedback, message: Message | None, now: datetime, source: str
) -> None:
    address = (message.recipient if message is not None else None) or outcome.recipient
    if not address or outcome.kind not in (HARD, COMPLAINT):
        return  # a soft bounce is only counted
    what = "bounced" if outcome.kind == HARD else "complained"
    suppress(session, "email", address, now, None, _said(what, outcome), _id(message))
    if message is None:
        return
    if outcome.kind == HARD:
        session.execute(
            update(Message)
            .where(Message.id == message.id, Message.status == "sent")
            .values(status="bounced", last_error=_said(what, outcome)[:2000])
        )
        return
    quiet_phone(session, message.customer_id, now, _said(what, outcome))
    record(
        session,
        at=now,
        actor="mail-system",
        action="customer.complained",
        object_type="customer",
        object_id=message.customer_id,
        after={"message": message.id, "source": source},
    )


def _said(what: str, outcome: Feedback) -> str:
    detail = " ".join(part for part in (outcome.status, outcome.detail) if part)
    return f"{what} ({detail})" if detail else what


def _id(message: Message | None) -> int | None:
    return None if message is None else message.id


def _message_for(session: Session, outcome: Feedback, secret_key: str) -> Message | None:
    if outcome.token:
        number = bounce_message(secret_key, outcome.token)
        if number is not None:
            found = session.get(Message, number)
            if found is not None and found.channel == "email":
                return found
    if not outcome.recipient:
        return None
    return session.scalars(
        select(Message)
        .where(
            Message.channel == "email",
            func.lower(Message.recipient) == outcome.recipient,
            Message.status.in_(("sent", "bounced")),
        )
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(1)
    ).first()


def _store(
    session: Session,
    key: str,
    position: int,
    source: str,
    now: datetime,
    outcome: Feedback,
    message: Message | None,
) -> bool:
    """Keep one outcome; False when this report's outcome at ``position`` is kept already."""
    insert = pg_insert if dialect(session) == "postgresql" else sqlite_insert
    kept = session.execute(
        insert(MailFeedback)
        .values(
            report_key=key,
            position=position,
            received_at=now,
            source=source,
            kind=outcome.kind,
            recipient=outcome.recipient[:320],
            message_id=_id(message),
            status=outcome.status[:16],
            detail=outcome.detail[:2000],
        )
        .on_conflict_do_nothing()
        .returning(MailFeedback.id)
    ).first()
    return kept is not None
