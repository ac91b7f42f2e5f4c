"""The real application served by uvicorn on 127.0.0.1, in a thread of the test."""

from makegood.web.embedded import MovableClock, free_port, served

__all__ = ["MovableClock", "free_port", "served"]
