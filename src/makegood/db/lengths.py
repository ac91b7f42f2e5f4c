"""Text lengths, from the one place they are written: each model's ``String(n)``.

PostgreSQL refuses a value longer than its column and SQLite stores it anyway; both
must refuse it the same way, before anything is written, naming the place and the
limit. Inputs check their own fields with ``length_problem`` and name them as the
user wrote them; ``guard_lengths`` is the net under every ORM write.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from makegood.core.errors import InvalidInputError


def max_length(attribute: Any) -> int | None:
    """The most characters a mapped column (``Customer.email``) holds; None for no limit."""
    column = attribute.property.columns[0] if hasattr(attribute, "property") else attribute
    kind = column.type
    return kind.length if isinstance(kind, String) and kind.length else None


def length_problem(value: str, limit: int | None) -> str | None:
    """What is wrong with a text that is longer than its limit; None when it fits."""
    if limit is None or len(value) <= limit:
        return None
    return f"is {len(value):,} characters long; at most {limit:,} fit"


def guard_lengths(factory: sessionmaker[Session]) -> None:
    """Check every text of every new or changed object against its column when the
    session flushes: too long is an InvalidInputError, on SQLite and PostgreSQL alike."""
    event.listen(factory, "before_flush", _check_flush)


def _check_flush(session: Session, _context: object, _instances: object) -> None:
    problems: list[str] = []
    for obj in (*session.new, *session.dirty):
        state = inspect(obj)
        mapper = state.mapper
        for attr in mapper.column_attrs:
            # What the object holds now; an attribute not loaded is not read (no query).
            value = state.dict.get(attr.key)
            if not isinstance(value, str):
                continue
            problem = length_problem(value, max_length(attr.columns[0]))
            if problem is not None:
                problems.append(f"{mapper.local_table.name}.{attr.key} {problem}")
    if problems:
        raise InvalidInputError("a text is too long; nothing was written", problems)
