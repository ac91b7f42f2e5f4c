"""Credits pushed into the billing system: the customer's id there, and each ledger
entry's delivery state per billing sink

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from makegood.db.base import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("billing_id", sa.String(200), nullable=True))
    op.create_table(
        "billing_deliveries",
        sa.Column("entry_id", ID, primary_key=True),
        sa.Column("sink", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("pushed_amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("rounding_minor", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state"),
    )
    op.create_index(
        "ix_billing_deliveries_due", "billing_deliveries", ["sink", "state", "entry_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_billing_deliveries_due", "billing_deliveries")
    op.drop_table("billing_deliveries")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("billing_id")
