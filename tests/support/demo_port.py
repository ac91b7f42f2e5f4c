"""One `makegood demo` at a time on its default port, across processes.

Without ``--port`` the demo serves its claim pages on 127.0.0.1:8000 when that port is
free when it starts, and binds it only later, once the data is made. Two demos started
close together (two pytest-xdist workers, or two test runs on one machine) can both
find it free and the second then fails to bind. The tests that run the demo that way
hold this lock, a file lock that every process on the machine sees, while it runs.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "makegood-tests-demo-port-8000.lock"


@contextmanager
def demo_port_held() -> Iterator[None]:
    """Wait until no other test process runs a demo on the default port, then hold it."""
    # Read-only: anyone on the machine can lock the file, whoever made it.
    fd = os.open(LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and with it the lock
