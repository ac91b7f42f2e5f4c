"""What incidents show of their impacts, which the impact domain computes and keeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.orm import Session

from makegood.kits.ports import Port


class ImpactFigures(Protocol):
    def counts(self, session: Session, incident_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Customers hurt per incident, by confidence ("confirmed", "possible")."""
        ...

    def sample(self, session: Session, incident_id: int, limit: int) -> list[dict[str, Any]]:
        """The incident's first impacts, strongest first (customer_id, confidence,
        magnitude, rule)."""
        ...


IMPACT_FIGURES: Port[ImpactFigures] = Port("impact figures")
