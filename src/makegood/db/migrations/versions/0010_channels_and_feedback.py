"""Customers reachable by SMS (their phone and the channels they want), and what mail
systems said after a message was accepted: bounces and complaints

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from makegood.db.base import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("phone", sa.String(32), nullable=True))
        batch.add_column(sa.Column("channel", sa.String(32), nullable=True))
    op.create_table(
        "mail_feedback",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("report_key", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False, server_default=""),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default=""),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
        sa.CheckConstraint(
            "kind IN ('hard_bounce', 'soft_bounce', 'complaint')", name="feedback_kind"
        ),
        sa.UniqueConstraint("report_key", "position", name="uq_mail_feedback_report"),
    )
    op.create_index("ix_mail_feedback_message", "mail_feedback", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_mail_feedback_message", "mail_feedback")
    op.drop_table("mail_feedback")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("channel")
        batch.drop_column("phone")
