"""Delivery is no longer SMTP's alone: the provider's id and code get neutral names,
and a suppression belongs to one channel (an address refused by mail may still take
a text message); an export batch's sink may be a plug-in's, with a longer name

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import makegood.db.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COLUMNS = "address, created_at, {code}, reason, message_id"


def _suppressions(name: str, keyed_by_channel: bool) -> None:
    code = "provider_code" if keyed_by_channel else "smtp_code"
    key = ("channel", "address") if keyed_by_channel else ("address",)
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("created_at", makegood.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(code, sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message_id", BIGINT, nullable=True),
    ]
    if keyed_by_channel:
        columns.insert(0, sa.Column("channel", sa.String(length=16), nullable=False))
    op.create_table(name, *columns, sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{name}")))


def _move(source: str, target: str, into: str, select: str) -> None:
    op.execute(f"INSERT INTO {target} ({into}) SELECT {select} FROM {source}")
    op.drop_table(source)


def upgrade() -> None:
    # Renames only: the outbox keeps its rows and its partial index in place.
    op.alter_column("messages", "smtp_message_id", new_column_name="provider_message_id")
    op.alter_column("delivery_attempts", "smtp_code", new_column_name="provider_code")
    # A new key: rebuilt through a copy (the list is small).
    op.rename_table("suppressions", "suppressions_0006")
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE suppressions_0006 RENAME CONSTRAINT pk_suppressions TO pk_0006")
    _suppressions("suppressions", keyed_by_channel=True)
    old = COLUMNS.format(code="smtp_code")
    _move(
        "suppressions_0006",
        "suppressions",
        "channel, " + COLUMNS.format(code="provider_code"),
        "'email', " + old,
    )
    # An export batch names the billing sink that took it, a plug-in's name included.
    with op.batch_alter_table("export_batches") as batch:
        batch.alter_column("format", type_=sa.String(length=64), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("export_batches") as batch:
        batch.alter_column("format", type_=sa.String(length=8), existing_nullable=False)
    op.rename_table("suppressions", "suppressions_0007")
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE suppressions_0007 RENAME CONSTRAINT pk_suppressions TO pk_0007")
    _suppressions("suppressions", keyed_by_channel=False)
    # One row per address again: an address refused on any channel stays refused.
    new = COLUMNS.format(code="provider_code")
    op.execute(
        f"INSERT INTO suppressions ({COLUMNS.format(code='smtp_code')}) "
        f"SELECT {new} FROM suppressions_0007 WHERE channel = 'email'"
    )
    op.drop_table("suppressions_0007")
    op.alter_column("delivery_attempts", "provider_code", new_column_name="smtp_code")
    op.alter_column("messages", "provider_message_id", new_column_name="smtp_message_id")
