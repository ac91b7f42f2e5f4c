"""Errors a user can act on. Every message names the place and what to do."""

from __future__ import annotations

from collections.abc import Sequence


class MakegoodError(Exception):
    """Base for errors shown to the user as a message, never as a traceback;
    ``problems`` lists every place found wrong, not only the first."""

    kind = "error"

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        if self.problems:
            listed = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{message}\n{listed}"
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "message": self.message, "problems": self.problems}


class NotFoundError(MakegoodError):
    kind = "not_found"


class ConflictError(MakegoodError):
    """The request is understood but the current state forbids it."""

    kind = "conflict"


class ConfigurationError(MakegoodError):
    kind = "configuration"


class InvalidInputError(MakegoodError):
    """Bad input, named by its place."""

    kind = "invalid_input"


class DatabaseError(MakegoodError):
    """The database failed or refused a statement. The message is one line and never
    carries the statement or its parameters (they may hold personal data or secrets)."""

    kind = "database"

    def __init__(self, message: str, reason: str = "failed") -> None:
        super().__init__(message)
        self.reason = reason


# What each DB-API error class means to the person who ran the command.
_DATABASE_REASONS = {
    "OperationalError": ("unavailable", "could not be reached, or gave up"),
    "IntegrityError": ("conflict", "refused a change that conflicts with what it holds"),
    "DataError": ("invalid", "refused a value"),
}
_DRIVER_MESSAGE_MAX = 200


def database_error(exc: BaseException, where: str = "") -> DatabaseError:
    """A one-line DatabaseError from a SQLAlchemy DBAPIError (or a driver's own error
    that reached us unwrapped), from the driver's own first line only: its later lines
    (PostgreSQL's DETAIL) and the SQL may hold data."""
    name = type(exc).__name__
    # A driver's own error names its cause (AdminShutdown); its DB-API class says
    # what that means (OperationalError).
    kind = next((k.__name__ for k in type(exc).__mro__ if k.__name__ in _DATABASE_REASONS), name)
    reason, meaning = _DATABASE_REASONS.get(kind, ("failed", "failed"))
    driver = getattr(exc, "orig", None)
    if driver is None and not hasattr(exc, "statement"):
        driver = exc  # the driver's own error, not wrapped: no SQL around its message
    first = str(driver if driver is not None else name).strip().splitlines()
    detail = first[0].strip() if first else name
    if len(detail) > _DRIVER_MESSAGE_MAX:
        detail = detail[: _DRIVER_MESSAGE_MAX - 1] + "…"
    place = f"database {where}: " if where else "database: "
    return DatabaseError(f"{place}{meaning} ({name}: {detail})", reason)
