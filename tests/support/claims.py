"""Claim links as a customer gets them: from the emails the sink received."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.support.delivery import Sink

LINK = re.compile(r"https?://[^\s\"'<>]+/claim/([A-Za-z0-9_\-]+)")


@dataclass(frozen=True)
class Delivered:
    recipient: str
    token: str
    path: str


def delivered_links(sink: Sink) -> list[Delivered]:
    """Every claim link in the text part of every email received, one per email."""
    found = []
    for item in sink.received():
        message = sink.open(item)
        part = message.get_body(preferencelist=("plain",))
        assert part is not None
        match = LINK.search(part.get_content())
        if match:
            token = match.group(1)
            found.append(Delivered(item["rcpt_tos"][0], token, f"/claim/{token}"))
    return found
