"""The audit log as the API shows it."""

from __future__ import annotations

from typing import Any

from makegood.kits.http.fields import Instant, Out


class AuditEntryOut(Out):
    id: int
    at: Instant
    actor: str
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
