"""Errors a user can act on. Every message names the place and what to do."""

from __future__ import annotations

from collections.abc import Sequence


class MakegoodError(Exception):
    """Base for errors shown to the user as a message, never as a traceback."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "message": self.message}


class NotFoundError(MakegoodError):
    kind = "not_found"


class ConflictError(MakegoodError):
    """The request is understood but the current state forbids it."""

    kind = "conflict"


class ConfigurationError(MakegoodError):
    kind = "configuration"


class InvalidInputError(MakegoodError):
    """Bad input; ``problems`` lists every place found wrong, not only the first."""

    kind = "invalid_input"

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        if self.problems:
            listed = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{message}\n{listed}"
        super().__init__(message)

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "problems": self.problems}
