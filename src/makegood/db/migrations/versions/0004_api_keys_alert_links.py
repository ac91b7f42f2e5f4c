"""API keys for the HTTP API; alerts that opened incidents

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import makegood.db.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", makegood.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "alert_links",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", makegood.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source", "fingerprint", name=op.f("pk_alert_links")),
    )
    with op.batch_alter_table("alert_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_links_incident_id"), ["incident_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("alert_links")
    op.drop_table("api_keys")
