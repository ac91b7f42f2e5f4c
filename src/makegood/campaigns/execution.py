"""Use case: execute an approved campaign, exactly once, in resumable chunks.

Each chunk is one transaction. Python does only what SQL cannot: the statement
date in each customer's zone, and a random claim token (kept as a hash; sealed
for the outbox). Everything else is set-based from a staging table, each domain
writing its own rows from it: credits moves offers out of 'planned' and puts grants
on the ledger, messaging queues one letter per offer, audit writes one entry per
offer. A process killed mid-chunk leaves that chunk untouched; running again picks up
the offers still planned. Unique keys on the
ledger (offer, kind) and the outbox (campaign, customer, channel) back this up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, Select, select, text
from sqlalchemy.orm import Session

from makegood.audit.service import record, record_transitions
from makegood.campaigns.correcting import correct_chunk
from makegood.campaigns.followup import TOP_UP
from makegood.campaigns.models import Campaign
from makegood.campaigns.service import get
from makegood.core.errors import ConflictError
from makegood.core.tokens import Sealer, hash_token, new_token
from makegood.credits import offers
from makegood.credits.models import Offer
from makegood.credits.offers import StagedOffer
from makegood.credits.rules import statement_date
from makegood.customers.models import Customer
from makegood.db.retry import retrying
from makegood.db.uow import UnitOfWork
from makegood.incidents.models import Incident
from makegood.messaging import queue

STAGE = "offer_execution"
OFFER_COLUMNS = (
    Offer.id,
    Offer.mode,
    Offer.claim_days,
    Offer.customer_id,
    Offer.incident_id,
    Offer.amount_minor,
    Offer.currency,
    Offer.rule,
)
Progress = Callable[[int], None]


@dataclass
class ExecuteResult:
    granted: int = 0
    offered: int = 0
    messages: int = 0
    corrected: int = 0  # a follow-up's corrections taken (campaigns/correcting.py)

    def add(self, other: ExecuteResult) -> None:
        self.corrected += other.corrected
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
    """Run chunks until no planned offer is left; each chunk commits on its own.

    A chunk the database lost (a restart, a killed backend) is run again once it is
    back: it takes the offers still planned, so none is granted twice. (A chunk whose
    commit went through unanswered is not counted in the result.)"""
    total = ExecuteResult()
    sealer = Sealer(secret_key)
    after = 0  # keyset: never rescan offers an earlier chunk already moved on

    def one_chunk() -> tuple[bool, ExecuteResult, int]:
        with UnitOfWork(engine) as uow:
            outcome = execute_chunk(uow.session, campaign_id, now, actor, sealer, chunk_size, after)
            uow.commit()
        return outcome

    while True:
        done, chunk, after = retrying(one_chunk)
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
        # A follow-up's corrections come after its offers, a chunk at a time too.
        corrected = (
            correct_chunk(session, campaign, now, actor, chunk_size) if campaign.round else 0
        )
        if corrected:
            return False, ExecuteResult(corrected=corrected), after
        campaign.status, campaign.finished_at = "done", now
        queue.refresh_statistics(session)
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
    result, staged = _decide(session, batch, rows, now, sealer)
    _apply(session, campaign, staged, now, actor)
    if after == 0:  # workers already running lease with the first chunk's statistics
        queue.refresh_statistics(session)
    return False, result, int(rows[-1][0])


def _decide(
    session: Session,
    batch: Select[*tuple[Any, ...]],
    rows: Sequence[Row[*tuple[Any, ...]]],
    now: datetime,
    sealer: Sealer,
) -> tuple[ExecuteResult, list[StagedOffer]]:
    """Each offer granted (with its statement date in the customer's zone) or offered
    (with a fresh claim token, kept as a hash, sealed for the outbox)."""
    result = ExecuteResult()
    bills = _bill_dates(session, batch, rows) if any(r.mode == "automatic" for r in rows) else {}
    statements: dict[tuple[date, str], date] = {}
    staged: list[StagedOffer] = []
    for offer_id, mode, days, customer_id, incident_id, amount, currency, rule in rows:
        decided = (offer_id, customer_id, incident_id, amount, currency)
        if mode == "automatic":
            key = bills[customer_id]
            if key not in statements:
                statements[key] = statement_date(key[0], now, key[1])
            # A follow-up's top-up goes on the bill without a second letter.
            silent = rule.startswith(TOP_UP)
            payload = queue.SILENT if silent else '{"kind": "automatic_credit"}'
            result.messages += not silent
            staged.append(StagedOffer(*decided, "granted", None, None, statements[key], payload))
            result.granted += 1
        else:
            token = new_token()
            # The sealed token is base64url text: safe inside a JSON string as it is.
            payload = f'{{"kind": "claim_offer", "sealed_token": "{sealer.seal(token)}"}}'
            expires = now + timedelta(days=days or 0)
            staged.append(
                StagedOffer(*decided, "offered", hash_token(token), expires, None, payload)
            )
            result.offered += 1
            result.messages += 1
    return result, staged


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
    session: Session, campaign: Campaign, staged: list[StagedOffer], now: datetime, actor: str
) -> None:
    """Each domain writes its own rows from the staged chunk."""
    incident = session.get(Incident, campaign.incident_id)
    title = incident.title if incident else f"incident {campaign.incident_id}"
    offers.stage(session, STAGE, staged)
    offers.settle_staged(session, STAGE, now, f"Credit: {title}")
    queue.queue_staged(session, STAGE, campaign.id, now)
    record_transitions(
        session, STAGE, object_type="offer", key="offer_id", before="planned", at=now, actor=actor
    )
    session.execute(text(f"DROP TABLE {STAGE}"))
