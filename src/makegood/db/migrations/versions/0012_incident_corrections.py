"""Incident corrections: amendments to an incident after the fact, the difference an
impact run found after one, follow-up campaigns (rounds) and what they do to the
credits of customers no longer owed one

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from makegood.db.base import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incident_amendments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
    )
    op.create_index("ix_incident_amendments_incident_id", "incident_amendments", ["incident_id"])
    with op.batch_alter_table("impact_runs") as batch:
        batch.add_column(sa.Column("amendment_id", sa.Integer(), nullable=True))
    op.create_table(
        "impact_changes",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("before_confidence", sa.String(9), nullable=True),
        sa.Column("before_magnitude", sa.BigInteger(), nullable=True),
        sa.Column("after_confidence", sa.String(9), nullable=True),
        sa.Column("after_magnitude", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "customer_id", name="pk_impact_changes"),
    )
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("amendment_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("offers") as batch:
        batch.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_constraint("uq_offers_incident_id", type_="unique")
        batch.create_unique_constraint(
            "uq_offers_incident_customer_round", ["incident_id", "customer_id", "round"]
        )
    op.create_table(
        "campaign_corrections",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", ID, nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(80), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", "offer_id", name="pk_campaign_corrections"),
        sa.CheckConstraint("action IN ('keep', 'close', 'reverse')", name="correction_action"),
    )


def downgrade() -> None:
    op.drop_table("campaign_corrections")
    with op.batch_alter_table("offers") as batch:
        batch.drop_constraint("uq_offers_incident_customer_round", type_="unique")
        batch.create_unique_constraint("uq_offers_incident_id", ["incident_id", "customer_id"])
        batch.drop_column("round")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("amendment_id")
        batch.drop_column("round")
    op.drop_table("impact_changes")
    with op.batch_alter_table("impact_runs") as batch:
        batch.drop_column("amendment_id")
    op.drop_index("ix_incident_amendments_incident_id", "incident_amendments")
    op.drop_table("incident_amendments")
