"""Who calls the API, and the port through which API keys are checked (kept apart from
FastAPI, so the access domain can fill it without loading a web framework)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from makegood.kits.ports import Port

if TYPE_CHECKING:
    from makegood.kits.root import Root


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's owner acts under the key's role, and may do what any
    role in ``grants`` may."""

    owner: str
    role: str
    key_id: int | None = None
    grants: frozenset[str] = frozenset()


class KeyCheck(Protocol):
    def __call__(self, root: Root, presented: str) -> Caller | None: ...


API_KEYS: Port[KeyCheck] = Port("API key check")
