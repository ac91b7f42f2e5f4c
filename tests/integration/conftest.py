"""Fixtures shared by the integration tests: a company with impacts for both seed
incidents, and a real SMTP server that keeps what it receives."""

from __future__ import annotations

import pytest

from makegood.adapters import mailbox
from tests.support.delivery import Sink
from tests.support.world import build_world


@pytest.fixture
def world(engine, tmp_path):
    return build_world(engine, tmp_path / "data")


@pytest.fixture
def sink(tmp_path):
    """The built-in mailbox on a free port: (handler, port)."""
    handler = Sink(tmp_path / "mailbox")
    controller = mailbox.start(handler.directory, handler=handler)
    yield handler, controller.port
    controller.stop()
