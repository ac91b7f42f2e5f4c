"""What messaging needs from outside: channels that carry a letter to an address, and
the terms a campaign promised (each rule's percent), which the campaigns domain knows.

A ``Channel`` is opened for one sending run and closed at its end; it may be asked to
send many messages at once (one per connection). It answers every try with one of:
``sent`` (accepted, with the provider's id for the message), ``retry`` (try again
later) or ``failed`` (never: the address is refused for good, with the reason).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from makegood.kits.ports import Port
from makegood.messaging.letters import LetterFacts
from makegood.messaging.rendering import Letter, Renderer

Outcome = Literal["sent", "retry", "failed"]


@dataclass(frozen=True)
class Envelope:
    """One rendered letter for one address.

    ``key`` is makegood's own name for the message (``campaign.message``), the same on
    every try; ``provider_id`` is what the provider called it on an earlier try, if
    any, so a retry can reuse it. ``attempt`` counts the tries, this one included: a
    channel whose provider cannot take an idempotency key looks for what an earlier
    try may have left before sending again."""

    key: str
    address: str
    to_name: str
    letter: Letter
    facts: LetterFacts
    provider_id: str | None = None
    attempt: int = 1

    @property
    def message_number(self) -> int:
        """The outbox row's id, the part of the key after the dot."""
        return int(self.key.rpartition(".")[2])


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    provider_id: str | None = None
    code: int | None = None
    detail: str = ""


@runtime_checkable
class Channel(Protocol):
    def address(self, facts: LetterFacts) -> str:
        """Where this channel reaches the customer ("" when it cannot)."""
        ...

    async def send(self, envelope: Envelope) -> Answer: ...

    async def close(self) -> None: ...


class Channels(Protocol):
    def open(self, name: str) -> Channel:
        """A fresh channel for the messages whose ``channel`` column is ``name``."""
        ...


class CampaignTerms(Protocol):
    def percents(
        self, session: Session, campaign_ids: Collection[int]
    ) -> Mapping[int, Mapping[str, Decimal | None]]:
        """Each campaign's rules with the percent of the monthly price each pays."""
        ...


CHANNELS: Port[Channels] = Port("delivery channels")
CAMPAIGN_TERMS: Port[CampaignTerms] = Port("campaign terms")

# Built once per application: it caches compiled templates and locale choices.
RENDERER: Port[Renderer] = Port(
    "letter renderer", lambda root: Renderer(root.settings.templates_dir)
)
