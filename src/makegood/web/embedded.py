"""The real application under uvicorn on 127.0.0.1, in a thread of the calling
process: for the demo, the screenshot scripts and the tests that speak HTTP to it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI

from makegood.core.clock import ensure_aware


class MovableClock:
    """A 'now' that its owner sets; the server reads it on every request."""

    def __init__(self, instant: datetime) -> None:
        self.instant = ensure_aware(instant, "now")

    def set(self, instant: datetime) -> None:
        self.instant = ensure_aware(instant, "now")

    def now(self) -> datetime:
        return self.instant


# How makegood runs uvicorn everywhere. uvicorn by default believes X-Forwarded-For
# from 127.0.0.1, which let any local client pick its own address and so escape the
# claim and sign-in limits: the address comes from the connection, and forwarded
# headers only through the trust_forwarded_for setting (web.claim.client_address).
SERVER_OPTIONS: dict[str, Any] = {"log_level": "warning", "proxy_headers": False}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def served(
    app: FastAPI, port: int | None = None, host: str = "127.0.0.1", lifespan: bool = False
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL. With ``lifespan`` the
    application's start-up and shut-down run too (the built-in sender, for one)."""
    port = port or free_port(host)
    lifespan_: Literal["on", "off"] = "on" if lifespan else "off"
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, lifespan=lifespan_, **SERVER_OPTIONS)
    )
    thread = threading.Thread(target=server.run, name="makegood-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"the web server did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        if thread.is_alive():
            raise RuntimeError("the web server (and its sender) did not stop within 30 s")
