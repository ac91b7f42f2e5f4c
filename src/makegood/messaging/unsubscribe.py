"""Use case: a customer unsubscribes from apology messages (RFC 8058 one-click, or the
page's button). Credits still come automatically; messages stop, on every channel:
the email address and the phone number go on the suppression list, which every sender
consults before sending."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.customers.models import Customer
from makegood.messaging.models import Suppression
from makegood.messaging.outbox import suppress

REASON = "unsubscribed"


def unsubscribe(session: Session, customer_id: str, now: datetime, how: str) -> bool:
    """Opt the customer out of email; False when they already were (nothing written)."""
    email = session.scalar(select(Customer.email).where(Customer.customer_id == customer_id))
    if email is None:
        return False
    address = email.strip().lower()
    already = session.scalar(
        select(Suppression.reason).where(
            Suppression.channel == "email", Suppression.address == address
        )
    )
    if already is not None:
        return False
    suppress(session, "email", address, now, None, f"{REASON} ({how})")
    texts = quiet_phone(session, customer_id, now, f"{REASON} ({how})")
    record(
        session,
        at=now,
        actor="customer",
        action="customer.unsubscribed",
        object_type="customer",
        object_id=customer_id,
        after={"channel": "email", "channels": ["email", *texts], "how": how},
    )
    return True


def quiet_phone(session: Session, customer_id: str, now: datetime, reason: str) -> list[str]:
    """Put the customer's phone number, if any, on the suppression list too: one who
    opted out of apologies by email gets none by text either. Answers ["sms"] or []."""
    phone = session.scalar(select(Customer.phone).where(Customer.customer_id == customer_id))
    if not phone:
        return []
    suppress(session, "sms", phone, now, None, reason)
    return ["sms"]
