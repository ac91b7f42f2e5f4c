"""Use case: execute an approved campaign, exactly once, in resumable chunks.

Each chunk is one transaction. Python does only what SQL cannot: the statement
date in each customer's zone, and a random claim token (kept as a hash; sealed
for the outbox). Everything else is set-based from a staging table: offers move
out of 'planned', grants go to the ledger, one message per offer is queued and one
audit entry per offer is written. A process killed mid-chunk leaves that chunk
untouched; running again picks up the offers still planned. Unique keys on the
ledger (offer, kind) and the outbox (campaign, customer, channel) back this up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, Select, select, text
from sqlalchemy.orm import Session

from makegood.audit.service import record
from makegood.campaigns.models import Campaign
from makegood.campaigns.service import get
from makegood.core.errors import ConflictError
from makegood.core.tokens import Sealer, hash_token, new_token
from makegood.credits.models import Offer
from makegood.credits.rules import statement_date
from makegood.customers.models import Customer
from makegood.db.bulk import db_instant, dialect, insert_rows
from makegood.db.uow import UnitOfWork
from makegood.incidents.models import Incident

STAGE = "offer_execution"
STAGE_COLUMNS = (
    "offer_id",
    "customer_id",
    "incident_id",
    "amount_minor",
    "currency",
    "status",
    "token_hash",
    "expires_at",
    "statement_date",
    "payload",
)
OFFER_COLUMNS = (
    Offer.id,
    Offer.mode,
    Offer.claim_days,
    Offer.customer_id,
    Offer.incident_id,
    Offer.amount_minor,
    Offer.currency,
)
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
    chunk_size: int = 25_000,
    progress: Progress | None = None,
) -> ExecuteResult:
    """Run chunks until no planned offer is left; each chunk commits on its own."""
    total = ExecuteResult()
    sealer = Sealer(secret_key)
    after = 0  # keyset: never rescan offers an earlier chunk already moved on
    while True:
        with UnitOfWork(engine) as uow:
            done, chunk, after = execute_chunk(
                uow.session, campaign_id, now, actor, sealer, chunk_size, after
            )
            uow.commit()
        total.add(chunk)
        if progress is not None:
            progress(chunk.granted + chunk.offered)
        if done:
            return total


def execute_chunk(
    session: Session,
    campaign_id: int,
    now: datetime,
    actor: str,
    sealer: Sealer,
    chunk_size: int,
    after: int = 0,
) -> tuple[bool, ExecuteResult, int]:
    """One transaction's worth, for offers with ids above ``after``: returns
    (campaign finished, what this chunk did, the last offer id it took)."""
    campaign = _claim_campaign(session, campaign_id, now, actor)
    if campaign is None:
        return True, ExecuteResult(), after
    # Offers first, by the index alone; customers after, and only when an automatic
    # offer needs its statement date (a claim's is fixed when it is claimed). Joined
    # in one query, the planner hashes the whole customers table for every chunk.
    batch = (
        select(*OFFER_COLUMNS)
        .where(Offer.campaign_id == campaign_id, Offer.status == "planned", Offer.id > after)
        .order_by(Offer.id)
        .limit(chunk_size)
    )
    rows = session.execute(batch).all()
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
        return True, ExecuteResult(), after
    result = ExecuteResult(messages=len(rows))
    bills = _bill_dates(session, batch, rows) if any(r.mode == "automatic" for r in rows) else {}
    statements: dict[tuple[date, str], date] = {}
    staged: list[tuple[Any, ...]] = []
    for offer_id, mode, days, customer_id, incident_id, amount, currency in rows:
        if mode == "automatic":
            key = bills[customer_id]
            if key not in statements:
                statements[key] = statement_date(key[0], now, key[1])
            status, token_hash, expires, statement = "granted", None, None, statements[key]
            payload = '{"kind": "automatic_credit"}'
            result.granted += 1
        else:
            token = new_token()
            # The sealed token is base64url text: safe inside a JSON string as it is.
            payload = f'{{"kind": "claim_offer", "sealed_token": "{sealer.seal(token)}"}}'
            status, token_hash, statement = "offered", hash_token(token), None
            expires = now + timedelta(days=days or 0)
            result.offered += 1
        staged.append(
            (
                offer_id,
                customer_id,
                incident_id,
                amount,
                currency,
                status,
                token_hash,
                expires,
                statement,
                payload,
            )
        )
    _apply(session, campaign, staged, now, actor)
    return False, result, int(rows[-1][0])


def _bill_dates(
    session: Session, batch: Select[*tuple[Any, ...]], rows: Sequence[Row[*tuple[Any, ...]]]
) -> dict[str, tuple[date, str]]:
    """(next bill date, zone) of every customer in the batch.

    Plans write offers in customer order, so a batch covers a narrow range of ids;
    saying so lets the database read that range of the key instead of hashing
    every customer for every chunk.
    """
    ids = [row.customer_id for row in rows]
    found = session.execute(
        select(Customer.customer_id, Customer.next_bill_date, Customer.timezone).where(
            Customer.customer_id.between(min(ids), max(ids)),
            Customer.customer_id.in_(batch.with_only_columns(Offer.customer_id).scalar_subquery()),
        )
    )
    return {customer_id: (bill, zone) for customer_id, bill, zone in found}


def _claim_campaign(
    session: Session, campaign_id: int, now: datetime, actor: str
) -> Campaign | None:
    """Lock the campaign (one executor at a time); None once it is done."""
    campaign = get(session, campaign_id, lock=True)
    if campaign.status in ("draft", "cancelled"):
        reason = "needs approval first" if campaign.status == "draft" else "was cancelled"
        raise ConflictError(f"campaign {campaign_id} is {campaign.status}: it {reason}")
    if campaign.status == "done":
        return None
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
    return campaign


def _apply(
    session: Session, campaign: Campaign, staged: list[tuple[Any, ...]], now: datetime, actor: str
) -> None:
    incident = session.get(Incident, campaign.incident_id)
    title = incident.title if incident else f"incident {campaign.incident_id}"
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE {STAGE} (offer_id BIGINT, customer_id VARCHAR(200), "
            "incident_id INTEGER, amount_minor BIGINT, currency VARCHAR(3), status VARCHAR(16), "
            "token_hash VARCHAR(64), expires_at TIMESTAMP WITH TIME ZONE, statement_date DATE, "
            "payload TEXT)"
        )
    )
    insert_rows(session, STAGE, STAGE_COLUMNS, staged)
    as_json = "CAST({} AS JSON)" if dialect(session) == "postgresql" else "{}"
    before = as_json.format("""'{"status": "planned"}'""")
    after = as_json.format("""'{"status": "' || s.status || '"}'""")
    params = {
        "now": db_instant(session, now),
        "actor": actor,
        "campaign": campaign.id,
        "description": f"Credit: {title}",
    }
    for statement in (
        f"UPDATE offers SET status = s.status, "
        f"expires_at = s.expires_at, statement_date = s.statement_date, "
        f"granted_at = CASE WHEN s.status = 'granted' THEN :now END "
        f"FROM {STAGE} s WHERE offers.id = s.offer_id AND offers.status = 'planned'",
        "INSERT INTO claim_tokens (token_hash, offer_id) "
        f"SELECT token_hash, offer_id FROM {STAGE} WHERE token_hash IS NOT NULL",
        "INSERT INTO ledger_entries (offer_id, customer_id, incident_id, kind, amount_minor, "
        "currency, statement_date, created_at, description) "
        "SELECT offer_id, customer_id, incident_id, 'grant', amount_minor, currency, "
        f"statement_date, :now, :description FROM {STAGE} WHERE status = 'granted'",
        "INSERT INTO messages (campaign_id, offer_id, customer_id, channel, kind, status, "
        "payload, attempts, created_at) "
        "SELECT :campaign, offer_id, customer_id, 'email', "
        "CASE status WHEN 'granted' THEN 'automatic_credit' ELSE 'claim_offer' END, "
        f"'queued', {as_json.format('payload')}, 0, :now FROM {STAGE}",
        "INSERT INTO audit_entries (at, actor, action, object_type, object_id, before, after) "
        "SELECT :now, :actor, 'offer.' || s.status, 'offer', CAST(s.offer_id AS VARCHAR(40)), "
        f"{before}, {after} FROM {STAGE} s",
        f"DROP TABLE {STAGE}",
    ):
        session.execute(text(statement), params)
