"""The demo's servers: the real web application under uvicorn on 127.0.0.1, in a
thread of the demo's process, on a clock the demo moves; and the built-in mailbox."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from makegood.adapters.mailbox import free_port
from makegood.core.clock import ensure_aware
from makegood.web.embedded import MovableClock, served


class RunningClock:
    """A replayed 'now' that starts at an instant and runs on at real speed, for the
    console kept open after the demo (actions there each get their own time)."""

    def __init__(self, start: datetime) -> None:
        self.start = ensure_aware(start, "now")
        self._began = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._began)


__all__ = ["MailboxProcess", "MovableClock", "RunningClock", "served"]

MAILBOX_COMMAND = (sys.executable, "-m", "makegood", "mailbox")


class MailboxProcess:
    """``makegood mailbox`` in a process of its own: the sink then has a core to
    itself instead of sharing the sender's interpreter lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.log = directory.parent / "mailbox.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAKEGOOD_")}
        with self.log.open("wb") as log:
            # Our own interpreter running makegood's own command: no outside input.
            self.process = subprocess.Popen(  # noqa: S603
                [*MAILBOX_COMMAND, "--port", str(self.port), "--dir", str(directory)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=directory.parent,
                env=env,
            )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def wait_until_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"the built-in mailbox did not start: {self.log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # it stops on SIGTERM, keeping what it received
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
