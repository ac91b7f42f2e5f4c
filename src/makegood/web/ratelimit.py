"""Per-client request limits for the claim pages: a fixed one-minute window per address.

Kept in the process: each server process counts on its own, which bounds guessing
and hammering without a shared store.
"""

from __future__ import annotations

import threading
import time


class PerMinute:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._windows: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> tuple[bool, int]:
        """Whether ``client`` may go on, and the seconds until its window resets."""
        if self.limit <= 0:
            return True, 0
        moment = time.monotonic() if now is None else now
        window = int(moment // 60)
        with self._lock:
            if len(self._windows) > 100_000:  # forget finished windows now and then
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
            started, count = self._windows.get(client, (window, 0))
            if started != window:
                started, count = window, 0
            count += 1
            self._windows[client] = (started, count)
        return count <= self.limit, 60 - int(moment % 60)
