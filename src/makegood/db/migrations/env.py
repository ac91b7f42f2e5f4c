"""Alembic environment: makegood passes its own connection in ``config.attributes``.

Upgrades need no models. Only autogenerate compares against them: whoever asks for that
passes the metadata (``config.attributes["metadata"]``); by hand, the table registry
above the domains is imported, since db itself knows no domain."""

from __future__ import annotations

import re

from alembic import context

config = context.config
connection = config.attributes.get("connection")
metadata = config.attributes.get("metadata")
if connection is None:  # pragma: no cover - only when alembic is run by hand
    from makegood.db.engine import make_engine
    from makegood.entrypoints.tables import Base

    connection = make_engine(config.get_main_option("sqlalchemy.url") or "").connect()
    metadata = Base.metadata


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Partitions of impacts (impacts_<incident>) are made at run time, not by models."""
    return not (type_ == "table" and reflected and re.fullmatch(r"impacts_\d+", name or ""))


context.configure(
    connection=connection,
    target_metadata=metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
