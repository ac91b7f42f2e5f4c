from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from makegood.db.base import Base, UTCDateTime

CAMPAIGN_STATES = ("draft", "approved", "executing", "done", "cancelled")
# Once a campaign has started executing, credits and messages exist that were
# decided from the incident's impacts; those impacts must not change under them.
EXECUTED_STATES = ("executing", "done")


class Campaign(Base):
    """The remedy plan for one incident under one policy version."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
