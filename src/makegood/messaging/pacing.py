"""How fast one sender goes: an overall rate, and limits per receiving domain.

Large receivers throttle senders that push too hard (a 421 "try later", then worse).
``[delivery] rate_per_second`` paces the whole sender; ``[delivery.domains."gmail.com"]
rate_per_second`` and ``connections`` pace one domain. A letter whose domain is at its
limit waits its turn without holding up letters to other domains: the sender puts it
back in line and takes the next (see Sender._work).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping

from makegood.channel_config import DomainLimits


class RateLimit:
    """At most ``per_second`` starts per second across the sender (0: no limit)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


class DomainPacing:
    """Per-domain rate and connection limits for email. One sender's coroutines share
    one event loop, so the counts need no lock: ``enter`` and ``leave`` never await."""

    BUSY_WAIT = 0.02  # how soon to look again when all of a domain's connections are busy

    def __init__(self, limits: Mapping[str, DomainLimits]) -> None:
        self.limits = {domain.strip().lower(): one for domain, one in limits.items()}
        self._busy: Counter[str] = Counter()
        self._next: dict[str, float] = {}

    def domain(self, channel: str, address: str) -> str:
        """The limited domain a letter goes to; "" when none of the limits applies."""
        if channel != "email" or not self.limits:
            return ""
        domain = address.rpartition("@")[2].strip().lower()
        return domain if domain in self.limits else ""

    def enter(self, domain: str) -> float:
        """Take a turn for ``domain`` now and answer 0, or answer how many seconds to
        wait before asking again (nothing taken)."""
        if not domain:
            return 0.0
        limits = self.limits[domain]
        if limits.connections and self._busy[domain] >= limits.connections:
            return self.BUSY_WAIT
        if limits.rate_per_second:
            now = time.monotonic()
            due = self._next.get(domain, 0.0)
            if due > now:
                return due - now
            self._next[domain] = now + 1 / limits.rate_per_second
        self._busy[domain] += 1
        return 0.0

    def leave(self, domain: str) -> None:
        if domain:
            self._busy[domain] -= 1
