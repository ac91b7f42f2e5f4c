"""Campaigns with approvals, offers, claim tokens, the credit ledger, the outbox and
billing exports

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import makegood.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claim_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("offer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_claim_tokens")),
    )
    with op.batch_alter_table("claim_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_tokens_offer_id"), ["offer_id"], unique=False)

    op.create_table(
        "export_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", makegood.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_batches")),
    )
    op.create_table(
        "export_items",
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_export_items")),
    )
    with op.batch_alter_table("export_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_export_items_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("offer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("statement_date", sa.Date(), nullable=False),
        sa.Column("created_at", makegood.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("offer_id", "kind", name=op.f("uq_ledger_entries_offer_id")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", makegood.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "campaign_id", "customer_id", "channel", name=op.f("uq_messages_campaign_id")
        ),
    )
    op.create_table(
        "offers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("claim_days", sa.Integer(), nullable=True),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.Column("expires_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("granted_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("voided_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.Column("statement_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint("incident_id", "customer_id", name=op.f("uq_offers_incident_id")),
        postgresql_with={"fillfactor": 50},
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index("ix_offers_campaign_id_id", ["campaign_id", "id"], unique=False)

    op.create_table(
        "campaign_approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("approver", sa.String(length=200), nullable=False),
        sa.Column("at", makegood.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_approvals_campaign_id_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_approvals")),
        sa.UniqueConstraint(
            "campaign_id", "approver", name=op.f("uq_campaign_approvals_campaign_id")
        ),
    )
    with op.batch_alter_table("campaign_approvals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_approvals_campaign_id"), ["campaign_id"], unique=False
        )

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "policy_name", sa.String(length=200), nullable=False, server_default=sa.text("''")
            )
        )
        batch_op.add_column(
            sa.Column("policy_version", sa.Integer(), nullable=False, server_default=sa.text("'1'"))
        )
        batch_op.add_column(
            sa.Column(
                "policy_digest", sa.String(length=64), nullable=False, server_default=sa.text("''")
            )
        )
        batch_op.add_column(
            sa.Column("policy_source", sa.Text(), nullable=False, server_default=sa.text("''"))
        )
        batch_op.add_column(
            sa.Column(
                "holdout_percent",
                sa.String(length=12),
                nullable=False,
                server_default=sa.text("'0'"),
            )
        )
        batch_op.add_column(
            sa.Column(
                "approvals_needed", sa.Integer(), nullable=False, server_default=sa.text("'1'")
            )
        )
        batch_op.add_column(
            sa.Column("preview", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(
            sa.Column("planned_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "planned_by", sa.String(length=200), nullable=False, server_default=sa.text("''")
            )
        )
        batch_op.add_column(
            sa.Column("executed_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("finished_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("cancelled_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("finished_at")
        batch_op.drop_column("executed_at")
        batch_op.drop_column("planned_by")
        batch_op.drop_column("planned_at")
        batch_op.drop_column("preview")
        batch_op.drop_column("approvals_needed")
        batch_op.drop_column("holdout_percent")
        batch_op.drop_column("policy_source")
        batch_op.drop_column("policy_digest")
        batch_op.drop_column("policy_version")
        batch_op.drop_column("policy_name")

    with op.batch_alter_table("campaign_approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_approvals_campaign_id"))

    op.drop_table("campaign_approvals")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index("ix_offers_campaign_id_id")

    op.drop_table("offers")
    op.drop_table("messages")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_customer_id"))

    op.drop_table("ledger_entries")
    with op.batch_alter_table("export_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_items_batch_id"))

    op.drop_table("export_items")
    op.drop_table("export_batches")
    with op.batch_alter_table("claim_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_tokens_offer_id"))

    op.drop_table("claim_tokens")
