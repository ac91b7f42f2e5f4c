"""Console users; a claim email may be sent again (a new message in sequence)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import makegood.db.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", makegood.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("disabled_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", makegood.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sequence", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
        batch_op.drop_constraint("uq_messages_campaign_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_messages_campaign_id", ["campaign_id", "customer_id", "channel", "sequence"]
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("uq_messages_campaign_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_messages_campaign_id", ["campaign_id", "customer_id", "channel"]
        )
        batch_op.drop_column("sequence")
    op.drop_table("users")
