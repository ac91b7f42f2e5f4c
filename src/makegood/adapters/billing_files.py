"""The file billing sinks, ``csv`` and ``jsonl``: the export's rows written to a
temporary name beside the destination, which takes its final name only in ``finish``
(after the batch was committed)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from makegood.billing.ports import COLUMNS, BillingItem, Receipt
from makegood.config import Settings
from makegood.core.errors import InvalidInputError


class FileSink:
    def __init__(self, name: str) -> None:
        self.name = name
        self._pending: list[tuple[Path, Path]] = []

    def deliver(self, items: Sequence[BillingItem], destination: str) -> Sequence[Receipt]:
        out = Path(destination)
        temporary = out.with_name(f".{out.name}.partial")
        try:
            with temporary.open("w", newline="", encoding="utf-8") as fh:
                self._write(fh, items)
        except OSError as exc:
            raise InvalidInputError(f"--out: cannot write {out} ({exc.strerror})") from None
        self._pending.append((temporary, out))
        return [Receipt(item.credit_id, "delivered", str(out)) for item in items]

    def _write(self, fh: TextIO, items: Sequence[BillingItem]) -> None:
        if self.name == "csv":
            writer = csv.DictWriter(fh, COLUMNS)
            writer.writeheader()
            writer.writerows(item.row() for item in items)
        else:
            for item in items:
                fh.write(json.dumps(item.row(), ensure_ascii=False) + "\n")

    def finish(self) -> None:
        while self._pending:
            temporary, out = self._pending.pop(0)
            os.replace(temporary, out)


def csv_sink(settings: Settings) -> FileSink:
    """The ``csv`` entry point of ``makegood.billing_sinks``."""
    return FileSink("csv")


def jsonl_sink(settings: Settings) -> FileSink:
    """The ``jsonl`` entry point of ``makegood.billing_sinks``."""
    return FileSink("jsonl")
