"""Alembic environment: makegood passes its own connection in ``config.attributes``."""

from __future__ import annotations

import re

from alembic import context

from makegood.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when alembic is run by hand
    from makegood.db.engine import make_engine

    connection = make_engine(config.get_main_option("sqlalchemy.url") or "").connect()


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Partitions of impacts (impacts_<incident>) are made at run time, not by models."""
    return not (type_ == "table" and reflected and re.fullmatch(r"impacts_\d+", name or ""))


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
