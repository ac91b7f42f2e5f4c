"""Delivery: lease a batch, render each letter, hand it to the channel its row names
(email over SMTP, or any channel an adapter adds), a few at a time, and record every
outcome before that slot moves on.

Exactly once, within the lease: a message is sent only by the sender that holds
its lease, and its outcome is committed before the connection that sent it takes
the next message. A sender killed mid-batch leaves its messages leased; once the
lease runs out another sender takes the ones with no recorded outcome. The one
window left is between the relay's "250 OK" and that commit (milliseconds): a
kill inside it sends that message again, under the same key (for email, the same Message-ID).

The database going away (a restart, a killed backend) does not stop a sender: each of
its database steps is tried again while the database is away (leases.py for the
leases, recording.py for the outcomes, both on db/retry.py). Past that patience the
step's error ends the run, which first gives back the letters it never handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from makegood.config import Settings
from makegood.core.clock import Clock
from makegood.core.tokens import Sealer
from makegood.db.retry import retrying_async
from makegood.db.uow import UnitOfWork
from makegood.kits.root import Root
from makegood.messaging import facts as facts_
from makegood.messaging import outbox
from makegood.messaging.leases import Holdings, wall_clock
from makegood.messaging.letters import compose
from makegood.messaging.pacing import DomainPacing, RateLimit
from makegood.messaging.ports import (
    CAMPAIGN_TERMS,
    CHANNELS,
    RENDERER,
    Answer,
    CampaignTerms,
    Channel,
    Channels,
    Envelope,
)
from makegood.messaging.recording import GroupCommit, OutcomeWriter
from makegood.messaging.rendering import Renderer, RenderError

Progress = Callable[[str], None]
SUPPRESSED = "address is on the suppression list"
CLOSE_SECONDS = 5.0  # for closing the channels when the run ends
Blocked = set[tuple[str, str]]  # suppressed (channel, address) pairs
# The messages, the suppressed addresses among them, and when their lease ends.
Batch = tuple[list[facts_.Outgoing], Blocked, datetime]
Item = tuple[facts_.Outgoing, Blocked, datetime]  # one message of a batch


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Wait until the first of ``waits`` finishes; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _settle(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` unless it is done, wait for it, and take its error (if any), so
    none is left for asyncio to report as never retrieved."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


def _still_wanted() -> None:
    """Raise CancelledError if this task was cancelled and something swallowed it:
    Python 3.11's wait_for (inside aiosmtplib) returns its result instead when the
    relay's answer and the cancel arrive together. A task that went on after that would
    keep the run waiting for it for ever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def _first_of(group: BaseExceptionGroup) -> BaseException:
    """The first exception in a (nested) group."""
    first = group.exceptions[0]
    return _first_of(first) if isinstance(first, BaseExceptionGroup) else first


@dataclass
class Counts:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    suppressed: int = 0
    lost_lease: int = 0

    def add(self, outcome: str, attempt: int, max_attempts: int) -> None:
        if outcome == "sent":
            self.sent += 1
        elif outcome == "suppressed":
            self.suppressed += 1
        elif outcome == "retry" and attempt < max_attempts:
            self.retrying += 1
        else:
            self.failed += 1


@dataclass
class Sender:
    engine: Engine
    settings: Settings
    clock: Clock
    renderer: Renderer
    channels: Channels
    terms: CampaignTerms
    worker: str = field(default_factory=worker_name)
    progress: Progress | None = None

    def __post_init__(self) -> None:
        self.sealer = Sealer(self.settings.secret_key.get_secret_value())
        self._open: dict[str, Channel] = {}
        self.delivery = self.settings.delivery
        self.counts = Counts()
        self._holdings = Holdings(self.engine, self.worker, self.delivery)
        writer = OutcomeWriter(self.engine, self.worker, self.delivery)
        self._outcomes = GroupCommit(writer, self._holdings)
        # A letter is sent only while this much of its lease is left, so a send in
        # flight ends before anyone else may lease the message.
        self._dropped = False
        self.pacing = DomainPacing(self.delivery.domains)
        self._margin = timedelta(seconds=min(self.delivery.lease_seconds / 2, 30))

    async def run(self, mode: str = "due", stop: asyncio.Event | None = None) -> Counts:
        """Send, then stop: ``due`` once nothing is due now; ``until_empty`` once nothing
        is pending at all (waiting out backoff and leases); ``forever`` when ``stop``
        is set."""
        if mode not in ("due", "until_empty", "forever"):
            raise ValueError(f"unknown mode {mode!r}")
        stop = stop or asyncio.Event()
        connections = self.delivery.connections
        limit = RateLimit(self.delivery.rate_per_second)
        # One long-lived coroutine per connection takes letters from a queue that a
        # feeder keeps topped up a batch at a time, so no connection waits for a
        # batch's slowest message or for the database between batches.
        queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self._low = asyncio.Event()
        self._holdings.begin()
        try:
            async with asyncio.TaskGroup() as group:
                workers = [
                    group.create_task(self._work(queue, limit, stop)) for _ in range(connections)
                ]
                await self._feed(queue, mode, stop)
                for _ in workers:
                    queue.put_nowait(None)
        except BaseExceptionGroup as group_error:
            # One failure (a channel's settings missing, a refused key, the database
            # away for longer than its patience) is raised as itself, so the command
            # line shows its message rather than a group.
            raise _first_of(group_error) from None
        finally:
            await self._wind_up()
        return self.counts

    async def _wind_up(self) -> None:
        """However the run ended: let the last group of outcomes be written, give back
        the letters never handed to a channel (left in the queue, read ahead, or leased
        when a step failed for good) so others can have them now, and close up."""
        await self._outcomes.finish()
        await self._holdings.give_back()
        await self._outcomes.close()
        opened, self._open = list(self._open.values()), {}
        # A connection cancelled mid-send may never answer its goodbye: the run ends
        # all the same (its socket goes with the process, or to the collector).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_SECONDS):
                for channel in opened:
                    await channel.close()

    def _address(self, item: facts_.Outgoing) -> str:
        return self._channel(item.channel).address(item.facts)

    def _channel(self, name: str) -> Channel:
        """The run's channel called ``name``, opened on first use."""
        if name not in self._open:
            self._open[name] = self.channels.open(name)
        return self._open[name]

    async def _feed(
        self, queue: asyncio.Queue[Item | None], mode: str, stop: asyncio.Event
    ) -> None:
        """Lease batches into the queue until there is nothing (more) to send or the
        sender is stopped. A batch read ahead and never queued stays held, and is given
        back when the run winds up."""
        ahead: asyncio.Task[Batch] | None = None
        try:
            while not stop.is_set():
                _still_wanted()
                outgoing, blocked, until = await (ahead or self._take())
                ahead = None
                if outgoing:
                    for item in outgoing:
                        queue.put_nowait((item, blocked, until))
                    # The next batch is leased and read while this one is being sent.
                    ahead = asyncio.create_task(self._take())
                    await self._while_full(queue, stop)
                    continue
                if not await self._idle(queue, mode, stop):
                    break
            if ahead is not None:
                await ahead
        finally:
            # Failed or cancelled (another task failed): the read-ahead goes too.
            await _settle(ahead)

    async def _while_full(self, queue: asyncio.Queue[Item | None], stop: asyncio.Event) -> None:
        """Wait until the queue is down to one letter a connection (or the stop)."""
        while queue.qsize() > self.delivery.connections and not stop.is_set():
            self._low.clear()
            await _first(self._low.wait(), stop.wait())

    async def _idle(
        self, queue: asyncio.Queue[Item | None], mode: str, stop: asyncio.Event
    ) -> bool:
        """Nothing was due: wait for what is in flight and then until something may be
        due; False when the run is over."""
        # What is in flight may come back due for a retry.
        await _first(queue.join(), stop.wait())
        if self._dropped and not stop.is_set():
            self._dropped = False  # letters left for lack of lease are due again now
            return True
        if stop.is_set() or mode == "due":
            return False
        due = await self._holdings.next_due()
        if due is None and mode == "until_empty":
            return False
        wait = self.delivery.poll_seconds
        if due is not None:
            wait = min(wait, max(0.05, (due - wall_clock()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
        return True

    async def _work(
        self,
        queue: asyncio.Queue[Item | None],
        limit: RateLimit,
        stop: asyncio.Event,
    ) -> None:
        low_water = self.delivery.connections
        while not stop.is_set():
            _still_wanted()
            entry = await queue.get()
            try:
                if entry is None:
                    return
                if queue.qsize() <= low_water:
                    self._low.set()
                if stop.is_set():  # taken after the stop: hand it back instead
                    queue.put_nowait(entry)
                    return
                if wall_clock() > entry[2] - self._margin:
                    # The lease ran out (or nearly) while the letter waited its turn:
                    # another sender, or this one's next lease, may hold it now. Leave it
                    # to them rather than risk sending it twice.
                    self.counts.lost_lease += 1
                    self._dropped = True
                    continue
                item = entry[0]
                if item.message_id in self._holdings.started:
                    # Leased again while this sender's outcome for it is still being
                    # written: that outcome settles it.
                    continue
                domain = self.pacing.domain(item.channel, self._address(item))
                wait = self.pacing.enter(domain)
                if wait:  # its domain is at its limit: back in line, others go first
                    queue.put_nowait(entry)
                    await _first(asyncio.sleep(min(wait, 0.05)), stop.wait())
                    continue
                self._holdings.started.add(item.message_id)
                try:
                    outcome = await self._deliver(item, entry[1], limit)
                finally:
                    self.pacing.leave(domain)
                await self._record(outcome)
            finally:
                queue.task_done()

    async def _take(self) -> Batch:
        """Lease the next batch and read what its letters need."""
        ids, until = await self._holdings.lease()
        if not ids:
            return [], set(), until
        outgoing, blocked = await retrying_async(lambda: asyncio.to_thread(self._prepare, ids))
        return outgoing, blocked, until

    def _prepare(self, ids: list[int]) -> tuple[list[facts_.Outgoing], Blocked]:
        with UnitOfWork(self.engine) as uow:
            outgoing = facts_.load(
                uow.session,
                ids,
                sealer=self.sealer,
                base_url=self.settings.base_url,
                sent_at=self.clock.now(),
                terms=self.terms,
            )
            wanted = [(o.channel, self._channel(o.channel).address(o.facts)) for o in outgoing]
            blocked = outbox.suppressed(uow.session, wanted)
        return outgoing, blocked

    async def _deliver(
        self, item: facts_.Outgoing, blocked: Blocked, limit: RateLimit
    ) -> outbox.Outcome:
        started = wall_clock()
        channel = self._channel(item.channel)
        address = channel.address(item.facts)

        def outcome(result: str, answer: Answer) -> outbox.Outcome:
            return outbox.Outcome(
                message_id=item.message_id,
                attempt=item.attempts,
                outcome=result,
                code=answer.code,
                detail=answer.detail,
                started_at=started,
                finished_at=wall_clock(),
                recipient=address,
                provider_message_id=answer.provider_id or item.provider_message_id,
                sent_at=item.facts.sent_at,
                channel=item.channel,
            )

        if (item.channel, address.lower()) in blocked:
            return outcome("suppressed", Answer("failed", detail=SUPPRESSED))
        if not address:
            lacking = Answer(
                "failed", detail=f"not sent: the customer has no {item.channel} address"
            )
            return outcome("failed", lacking)
        try:
            form = "sms" if item.channel == "sms" else "email"
            letter = compose(self.renderer, item.facts, self.settings.company, form)
        except (RenderError, ValueError) as exc:
            return outcome("failed", Answer("failed", detail=f"not sent: {exc}"))
        key = f"{item.campaign_id}.{item.message_id}"
        envelope = Envelope(
            key,
            address,
            item.facts.first_name,
            letter,
            item.facts,
            item.provider_message_id,
            attempt=item.attempts,
        )
        await limit.wait()
        answer = await channel.send(envelope)
        return outcome(answer.outcome, answer)

    async def _record(self, outcome: outbox.Outcome) -> None:
        """Wait until this outcome is committed (with others: see GroupCommit)."""
        if await self._outcomes.record(outcome):
            self.counts.add(outcome.outcome, outcome.attempt, self.delivery.max_attempts)
        else:
            self.counts.lost_lease += 1
        if self.progress is not None:
            self.progress(outcome.outcome)


def for_root(root: Root, progress: Progress | None = None) -> Sender:
    """The outbox sender, with the channels, campaign terms and renderer the root binds:
    the one way a sender is made (CLI, worker, web app and demo alike)."""
    return Sender(
        engine=root.engine,
        settings=root.settings,
        clock=root.clock,
        renderer=root.port(RENDERER),
        channels=root.port(CHANNELS),
        terms=root.port(CAMPAIGN_TERMS),
        progress=progress,
    )
