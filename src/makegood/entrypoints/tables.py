"""The table registry: every model of every domain and page, so the metadata (and Alembic)
sees all tables. It sits above the domains, which know only their own tables."""

from makegood.access.models import ApiKey
from makegood.audit.models import AuditEntry
from makegood.billing.models import BillingDelivery, ExportBatch, ExportItem
from makegood.campaigns.models import Approval, Campaign
from makegood.console.models import User
from makegood.credits.models import ClaimToken, LedgerEntry, Offer
from makegood.customers.models import Customer
from makegood.db.base import Base
from makegood.impact.models import Impact, ImpactRun
from makegood.incidents.models import AlertLink, Incident
from makegood.messaging.models import DeliveryAttempt, Message, Suppression
from makegood.sources.models import DataSource

__all__ = [
    "AlertLink",
    "ApiKey",
    "Approval",
    "AuditEntry",
    "Base",
    "BillingDelivery",
    "Campaign",
    "ClaimToken",
    "Customer",
    "DataSource",
    "DeliveryAttempt",
    "ExportBatch",
    "ExportItem",
    "Impact",
    "ImpactRun",
    "Incident",
    "LedgerEntry",
    "Message",
    "Offer",
    "Suppression",
    "User",
]
