"""What the sources domain needs from the engine that will read the data: a full check
of a file (or a glob of files) against a source table's contract."""

from __future__ import annotations

from typing import Protocol

from makegood.kits.ports import Port


class SourceCheck(Protocol):
    def check_source(self, table: str, path: str) -> tuple[str, int]:
        """Check columns, types and every value; answer (format, row count), or raise
        ``InvalidInputError`` naming the file, line and column at fault."""
        ...


SOURCE_CHECK: Port[SourceCheck] = Port("source check")
