"""Use case: execute an approved campaign, exactly once, in resumable chunks.

Each chunk is one transaction: the planned offers it takes become granted (a
ledger credit) or offered (a claim token and expiry), and each gets one queued
message and one audit entry. A process killed mid-chunk leaves that chunk
untouched; running again picks up the offers still planned. Unique keys on the
ledger (offer, kind) and the outbox (campaign, customer, channel) back this up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.campaigns.models import Offer
from makegood.campaigns.service import get
from makegood.core.errors import ConflictError
from makegood.core.money import format_major
from makegood.core.tokens import hash_token, new_token, seal
from makegood.credits.rules import statement_date
from makegood.customers.models import Customer
from makegood.db.bulk import db_instant, insert_rows
from makegood.db.uow import UnitOfWork
from makegood.incidents.models import Incident

STAGE = "offer_execution"
Progress = Callable[[int], None]


@dataclass
class ExecuteResult:
    granted: int = 0
    offered: int = 0
    messages: int = 0

    def add(self, other: ExecuteResult) -> None:
        self.granted += other.granted
        self.offered += other.offered
        self.messages += other.messages


def execute(
    engine: Engine,
    campaign_id: int,
    now: datetime,
    actor: str,
    secret_key: str,
    chunk_size: int = 5_000,
    progress: Progress | None = None,
) -> ExecuteResult:
    """Run chunks until no planned offer is left; each chunk commits on its own."""
    total = ExecuteResult()
    while True:
        with UnitOfWork(engine) as uow:
            done, chunk = execute_chunk(
                uow.session, campaign_id, now, actor, secret_key, chunk_size
            )
            uow.commit()
        total.add(chunk)
        if progress is not None:
            progress(chunk.granted + chunk.offered)
        if done:
            return total


def execute_chunk(
    session: Session, campaign_id: int, now: datetime, actor: str, secret_key: str, chunk_size: int
) -> tuple[bool, ExecuteResult]:
    """One transaction's worth: returns (campaign finished, what this chunk did)."""
    campaign = get(session, campaign_id, lock=True)  # one executor at a time
    if campaign.status in ("draft", "cancelled"):
        reason = "needs approval first" if campaign.status == "draft" else "was cancelled"
        raise ConflictError(f"campaign {campaign_id} is {campaign.status}: it {reason}")
    if campaign.status == "done":
        return True, ExecuteResult()
    if campaign.status == "approved":
        campaign.status, campaign.executed_at = "executing", now
        record(
            session,
            at=now,
            actor=actor,
            action="campaign.executing",
            object_type="campaign",
            object_id=campaign_id,
            before={"status": "approved"},
            after={"status": "executing"},
        )
    incident = session.get(Incident, campaign.incident_id)
    title = incident.title if incident else f"incident {campaign.incident_id}"
    rows = session.execute(
        select(
            Offer.id,
            Offer.customer_id,
            Offer.mode,
            Offer.amount_minor,
            Offer.currency,
            Offer.claim_days,
            Customer.next_bill_date,
            Customer.timezone,
            Customer.email,
            Customer.first_name,
            Customer.locale,
        )
        .join(Customer, Customer.customer_id == Offer.customer_id)
        .where(Offer.campaign_id == campaign_id, Offer.status == "planned")
        .order_by(Offer.id)
        .limit(chunk_size)
    ).all()
    if not rows:
        campaign.status, campaign.finished_at = "done", now
        record(
            session,
            at=now,
            actor=actor,
            action="campaign.done",
            object_type="campaign",
            object_id=campaign_id,
            before={"status": "executing"},
            after={"status": "done"},
        )
        return True, ExecuteResult()
    staged: list[tuple[Any, ...]] = []
    messages: list[tuple[Any, ...]] = []
    audits: list[tuple[Any, ...]] = []
    result = ExecuteResult()
    for oid, cid, mode, amount, currency, days, bill, zone, email, first, locale in rows:
        payload: dict[str, Any] = {
            "offer_id": oid,
            "incident_id": campaign.incident_id,
            "email": email,
            "first_name": first,
            "locale": locale,
            "timezone": zone,
            "currency": currency,
            "amount_minor": amount,
            "amount": format_major(amount, currency),
        }
        if mode == "automatic":
            statement = statement_date(bill, now, zone)
            staged.append((oid, "granted", None, None, statement))
            payload |= {"kind": "automatic_credit", "statement_date": statement.isoformat()}
            result.granted += 1
        else:
            token, expires = new_token(), now + timedelta(days=days or 0)
            staged.append((oid, "offered", hash_token(token), expires, None))
            payload |= {
                "kind": "claim_offer",
                "expires_at": expires.isoformat(),
                "sealed_token": seal(token, secret_key),
            }
            result.offered += 1
        messages.append(
            (campaign_id, oid, cid, "email", payload["kind"], "queued", json.dumps(payload), 0, now)
        )
        audits.append(
            (
                now,
                actor,
                f"offer.{staged[-1][1]}",
                "offer",
                str(oid),
                json.dumps({"status": "planned"}),
                json.dumps({"status": staged[-1][1]}),
            )
        )
    _apply(session, staged, now, title)
    insert_rows(
        session,
        "messages",
        (
            "campaign_id",
            "offer_id",
            "customer_id",
            "channel",
            "kind",
            "status",
            "payload",
            "attempts",
            "created_at",
        ),
        messages,
    )
    insert_rows(
        session,
        "audit_entries",
        ("at", "actor", "action", "object_type", "object_id", "before", "after"),
        audits,
    )
    result.messages = len(messages)
    return False, result


def _apply(session: Session, staged: list[tuple[Any, ...]], now: datetime, title: str) -> None:
    """Move the staged offers out of 'planned' and write the grants, set-based."""
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE {STAGE} (offer_id BIGINT PRIMARY KEY, status VARCHAR(16), "
            "token_hash VARCHAR(64), expires_at TIMESTAMP WITH TIME ZONE, statement_date DATE)"
        )
    )
    insert_rows(
        session,
        STAGE,
        ("offer_id", "status", "token_hash", "expires_at", "statement_date"),
        staged,
    )
    stamp = db_instant(session, now)
    session.execute(
        text(
            f"UPDATE offers SET status = s.status, token_hash = s.token_hash, "
            f"expires_at = s.expires_at, statement_date = s.statement_date, "
            f"granted_at = CASE WHEN s.status = 'granted' THEN :now END "
            f"FROM {STAGE} s WHERE offers.id = s.offer_id AND offers.status = 'planned'"
        ),
        {"now": stamp},
    )
    session.execute(
        text(
            "INSERT INTO ledger_entries (offer_id, customer_id, incident_id, kind, amount_minor, "
            "currency, statement_date, created_at, description) "
            "SELECT o.id, o.customer_id, o.incident_id, 'grant', o.amount_minor, o.currency, "
            f"s.statement_date, :now, :description FROM {STAGE} s "
            "JOIN offers o ON o.id = s.offer_id WHERE s.status = 'granted'"
        ),
        {"now": stamp, "description": f"Credit: {title}"},
    )
    session.execute(text(f"DROP TABLE {STAGE}"))
