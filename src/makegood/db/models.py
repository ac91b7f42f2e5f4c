"""Imports every model so the metadata (and Alembic) sees all tables."""

from makegood.audit.models import AuditEntry
from makegood.campaigns.models import Campaign
from makegood.customers.models import Customer
from makegood.db.base import Base
from makegood.impact.models import Impact, ImpactRun
from makegood.incidents.models import Incident
from makegood.sources.models import DataSource

__all__ = [
    "AuditEntry",
    "Base",
    "Campaign",
    "Customer",
    "DataSource",
    "Impact",
    "ImpactRun",
    "Incident",
]
